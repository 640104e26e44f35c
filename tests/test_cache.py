"""Reward cache: hits equal the original, every input field changes the key, statistics, CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from reward_judge.backends.base import GenerationParams
from reward_judge.cache import JudgeCache, cache_key
from reward_judge.protocols import CustomProtocol

from tests.conftest import DIGIT

PROMPTS = ["What is 2+2?", "Name a primary colour."]
COMPLETIONS = ["4", "Red."]


def _fields(r):
    return (r.score, r.reward, r.feedback, r.raw, r.ok, r.attempts)


@pytest.mark.model
def test_persistent_cache_hit_equals_original(make_rm, tmp_path):
    path = tmp_path / "rewards.sqlite"
    rm = make_rm(cache=str(path))
    first = rm.score(PROMPTS, COMPLETIONS)
    assert all(r.ok for r in first), [r.raw for r in first]  # the digit prompt is answered by the tiny judge
    assert not any(r.cached for r in first)
    assert rm.cache.stats.misses == 2 and rm.cache.stats.stores == 2 and len(rm.cache) == 2

    # a new reward model (a new process would be the same) reads the file: no judge call at all
    again = make_rm(cache=str(path))
    second = again.score(PROMPTS, COMPLETIONS)
    assert [r.cached for r in second] == [True, True]
    assert [_fields(r) for r in second] == [_fields(r) for r in first]
    assert again.stats.judge_requests == 0
    assert again.cache.stats.disk_hits == 2 and again.stats.cache_hits == 2

    # the in-memory LRU answers the third time
    third = again.score(PROMPTS, COMPLETIONS)
    assert again.cache.stats.memory_hits == 2
    assert [_fields(r) for r in third] == [_fields(r) for r in first]


@pytest.mark.model
def test_duplicates_in_one_call_are_judged_once(make_rm):
    rm = make_rm(cache=True)
    results = rm.score(["What is 2+2?"] * 4, ["4", "5", "4", "4"])
    assert rm.stats.judge_requests == 2 and rm.stats.duplicates_skipped == 2
    assert results[0].raw == results[2].raw == results[3].raw


@pytest.mark.model
def test_sampled_judging_is_cached_only_on_request(make_rm):
    rm = make_rm(cache=True, do_sample=True, temperature=0.7)
    rm.score(PROMPTS[:1], COMPLETIONS[:1])
    rm.score(PROMPTS[:1], COMPLETIONS[:1])
    assert rm.cache.stats.hits == 0 and rm.cache.stats.stores == 0 and rm.stats.judge_requests >= 2

    opted = make_rm(cache=True, do_sample=True, temperature=0.7, cache_sampled=True)
    first = opted.score(PROMPTS[:1], COMPLETIONS[:1])[0]
    second = opted.score(PROMPTS[:1], COMPLETIONS[:1])[0]
    if first.ok:  # only valid verdicts are stored
        assert second.cached and _fields(second) == _fields(first)


@pytest.mark.model
def test_failures_are_not_cached(make_rm):
    # an answer pattern the judge never writes: every result is a parse failure, none is stored
    never = CustomProtocol(custom_name="never", template=DIGIT.template, answer_pattern=r"(ZZZ\d)", range=(1, 9))
    rm = make_rm(protocol=never, cache=True, max_attempts=1)
    result = rm.score(PROMPTS[:1], COMPLETIONS[:1])[0]
    assert not result.ok and result.fallback
    assert rm.cache.stats.stores == 0 and len(rm.cache) == 0


@pytest.mark.model
def test_every_field_changes_the_key(make_rm):
    rm = make_rm()
    base = dict(identity=rm.backend.identity, judge_input=rm.request("Q", "A").input.key, protocol=DIGIT.name,
                protocol_version=DIGIT.version, scoring=rm.scorer.cache_fields())
    key = cache_key(**base)
    assert cache_key(**base) == key  # identical requests hit
    changed = {
        "identity": "hf:another-judge|adapter:lora",
        "judge_input": rm.request("Q", "A2").input.key,
        "protocol": "other",
        "protocol_version": "2",
        "scoring": dict(rm.scorer.cache_fields(), mode="direct"),
    }
    for field, value in changed.items():
        assert cache_key(**dict(base, **{field: value})) != key, field
    sampled = GenerationParams(max_new_tokens=4, do_sample=True, temperature=0.7, seed=0)
    for field, value in dict(temperature=0.9, top_p=0.5, top_k=5, seed=1, repetition_penalty=1.03).items():
        other = GenerationParams(**{**sampled.__dict__, field: value})
        assert cache_key(**dict(base, scoring=other.cache_fields())) != cache_key(**dict(base, scoring=sampled.cache_fields())), field


@pytest.mark.model
def test_rendered_fields_each_change_the_judge_input(make_rm):
    # the key hashes the rendered judge input: prompt, completion, reference, rubric and chat format all reach it
    ref = CustomProtocol(custom_name="ref", template="Rubric: {rubric}\nReference: {reference}\n" + DIGIT.template,
                         answer_pattern=r"(\d)", range=(1, 9))
    rm = make_rm(protocol=ref, rubric="Is it correct?")
    base = rm.render("Q", "A", reference="R")
    variants = [rm.render("Q2", "A", reference="R"), rm.render("Q", "A2", reference="R"),
                rm.render("Q", "A", reference="R2"), rm.render("Q", "A", reference="R", rubric="Is it kind?"),
                make_rm(protocol=ref, rubric="Is it correct?", chat_format="template").render("Q", "A", reference="R")]
    assert len({base, *variants}) == 6


@pytest.mark.model
def test_config_changes_miss_in_the_reward_model(make_rm, tmp_path):
    path = str(tmp_path / "c.sqlite")
    make_rm(cache=path).score(PROMPTS[:1], COMPLETIONS[:1])
    assert make_rm(cache=path).score(PROMPTS[:1], COMPLETIONS[:1])[0].cached
    assert not make_rm(cache=path, max_new_tokens=5).score(PROMPTS[:1], COMPLETIONS[:1])[0].cached
    assert not make_rm(cache=path).score(PROMPTS[:1], ["four"])[0].cached


@pytest.mark.unit
def test_memory_lru_evicts_oldest():
    cache = JudgeCache(None, memory_size=2)
    for k in "abc":
        cache.put(k, {"v": k})
    assert cache.get("a") is None and cache.get("c") == {"v": "c"} and len(cache) == 2


@pytest.mark.process
def test_cache_cli_stats_and_clear(tmp_path):
    path = tmp_path / "cli.sqlite"
    cache = JudgeCache(path)
    for i in range(3):
        cache.put(str(i), {"score": i})
    cache.close()
    run = lambda *a: subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", "cache", *a, str(path)],
                                    capture_output=True, text=True, check=True).stdout
    assert "entries:    3" in run("stats")
    assert "removed 3 entries" in run("clear")
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM judgments").fetchone()[0] == 0
    missing = subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", "cache", "stats", str(tmp_path / "no.sqlite")],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "does not exist" in missing.stderr


@pytest.mark.unit
def test_bad_cache_options(tmp_path):
    with pytest.raises(ValueError, match=r"cache=.* is a directory"):
        JudgeCache(tmp_path)
    with pytest.raises(ValueError, match="memory_size must be a non-negative integer, got -1"):
        JudgeCache(None, memory_size=-1)


@pytest.mark.unit
def test_a_sampled_retrys_verdict_is_one_draw_cached_only_on_request():
    """The first attempt is greedy and unreadable (GARBLE); the retry samples. Its verdict is one random draw:
    without ``cache_sampled`` it is not stored (the next call draws again); with it, the retries' temperature
    and seed are part of the key, so another seed draws anew."""
    from tests._scripted import scripted_model

    rm = scripted_model(mode="generate", max_attempts=2, cache=True)
    first = rm.score(["GARBLE score=4"], ["x"])[0]
    assert first.ok and first.attempts == 2 and not first.cached
    assert rm.cache.stats.stores == 0
    again = rm.score(["GARBLE score=4"], ["x"])[0]
    assert not again.cached and again.attempts == 2
    # a greedy first attempt's verdict is deterministic: stored as before
    rm.score(["score=3"], ["x"])
    assert rm.cache.stats.stores == 1

    opted = scripted_model(mode="generate", max_attempts=2, cache=True, cache_sampled=True)
    opted.score(["GARBLE score=4"], ["x"])
    assert opted.cache.stats.stores == 1 and opted.score(["GARBLE score=4"], ["x"])[0].cached
    shared = opted.cache
    for changed in ({"seed": 7}, {"retry_temperature": 0.2}):
        other = scripted_model(mode="generate", max_attempts=2, cache=shared, cache_sampled=True, **changed)
        assert not other.score(["GARBLE score=4"], ["x"])[0].cached, changed


@pytest.mark.unit
def test_duplicate_rows_get_results_of_their_own():
    from tests._scripted import scripted_model

    rm = scripted_model(mode="cascade", cascade_threshold=0.9)
    a, b = rm.score(["score=4", "score=4"], ["x", "x"])
    assert rm.stats.duplicates_skipped == 1
    assert a.extra == b.extra and a.extra["cascade"] is not b.extra["cascade"]
    a.extra["cascade"]["escalated"] = "changed on row 0"
    assert b.extra["cascade"]["escalated"] != "changed on row 0"


@pytest.mark.model
def test_an_in_memory_judges_identity_follows_its_weights_and_dtype():
    """Two loaded models of one class used to share the identity 'LlamaForCausalLM', so the second was served
    the first one's cached verdicts; a bfloat16 copy was served the float32 verdicts."""
    import torch

    from reward_judge.backends.transformers.backend import from_model
    from reward_judge.backends.transformers.options import TransformersOptions
    from tests.test_attention import tiny_llama

    first, second = tiny_llama(), tiny_llama()
    with torch.no_grad():  # one training step's worth of change in one weight
        second.model.layers[0].mlp.up_proj.weight.add_(1e-3)
    tokenizer = _tokenizer()
    identity = lambda model: from_model(model, tokenizer, TransformersOptions()).identity  # noqa: E731
    assert identity(first) == identity(first)
    assert identity(first) != identity(second)
    assert "dtype:float32" in identity(first)
    assert "dtype:bfloat16" in identity(first.to(torch.bfloat16))


def _tokenizer():
    from transformers import AutoTokenizer

    from reward_judge.embedded import embedded_judge_path

    return AutoTokenizer.from_pretrained(embedded_judge_path()[0])


@pytest.mark.unit
def test_a_vllm_judges_identity_holds_its_dtype_and_quantisation(tmp_path):
    """A bfloat16 or quantised vLLM judge was served the float32 judge's cached verdicts (one identity for all)."""
    from types import SimpleNamespace

    from reward_judge.backends.base import BackendContext
    from reward_judge.backends.vllm.backend import VLLMBackend
    from reward_judge.backends.vllm.options import VLLMOptions

    context = BackendContext(name="judge", model=str(tmp_path), identity="embedded:judge-digest")
    tokenizer = SimpleNamespace(eos_token_id=2)  # no engine starts (start=False): only the identity is built

    def identity(**options):
        return VLLMBackend(context, VLLMOptions(max_model_len=2048, **options), tokenizer=tokenizer, start=False).identity

    assert identity(dtype="float32") == identity(dtype="float32") == "vllm:embedded:judge-digest|dtype:float32"
    assert len({identity(dtype="float32"), identity(dtype="bfloat16"), identity(dtype="auto"),
                identity(dtype="float32", engine_args={"quantization": "fp8"})}) == 4
