"""End to end on the real embedded judge (SmolLM2-135M-Instruct): rewards, records, failures, fallbacks."""

from __future__ import annotations

import math

import pytest
import torch

from reward_judge import GenerativeRewardModel, JudgeConfig, JudgeFailure, JudgeResult
from tests.conftest import GRADE_PROTOCOL

pytestmark = pytest.mark.model

PROMPTS = ["What is 2+2?", "What is 2+2?", "Name the capital of France.", "Name the capital of France."]
COMPLETIONS = ["2+2 equals 4.", "2+2 equals 5.", "The capital of France is Paris.", "I think it is Lyon."]


def test_readme_contract_on_the_default_judge(default_judge):
    rewards = default_judge(prompts=["What is 2+2?"], completions=["4"])
    assert isinstance(rewards, list) and len(rewards) == 1 and isinstance(rewards[0], float)
    results = default_judge.score(["What is 2+2?"], ["4"], reference=["4"])
    assert len(results) == 1 and isinstance(results[0], JudgeResult)
    result = results[0]
    # the demo judge's preset reads the Prometheus answer distribution: a continuous 1-5 score
    assert default_judge.config.mode == "direct"
    assert result.ok and not result.fallback and 1.0 <= result.score <= 5.0
    assert result.reward == pytest.approx((result.score - 1) / 4)
    assert set(result.distribution) == {"1", "2", "3", "4", "5"}
    assert sum(result.distribution.values()) == pytest.approx(1.0)
    assert default_judge.__name__ == "judge-prometheus-v2"


def test_generate_mode_failures_are_honest(default_judge):
    """Card-style judging with the tiny judge: when it skips '[RESULT] n', the result says so."""
    rm = GenerativeRewardModel(default_judge.backend, default_judge.config.replace(mode="generate", max_new_tokens=24),
                               judge="default")
    result = rm.score(["What is 2+2?"], ["4"], reference=["4"])[0]
    assert result.raw  # the judge really wrote something
    if result.ok:  # a parsed answer is a real score on the protocol's scale
        assert result.score in {1, 2, 3, 4, 5} and result.reward == (result.score - 1) / 4 and not result.fallback
    else:  # an honest, visible failure, never an invented score
        assert result.score is None and result.reward is None and result.fallback
        assert result.attempts == rm.config.max_attempts
        assert "[RESULT]" in result.error


def test_reference_reaches_the_judge_prompt(default_judge):
    with_ref = default_judge.render("What is 2+2?", "4", reference="4")
    without = default_judge.render("What is 2+2?", "4")
    assert "###Reference Answer (Score 5):\n4\n\n###Score Rubrics:" in with_ref
    assert "###Reference Answer" not in without
    # the embedded judge's own chat template wraps the Prometheus 2 system and user turns
    assert with_ref.startswith("<|im_start|>system\nYou are a fair judge assistant tasked")
    assert with_ref.endswith("###Feedback: <|im_end|>\n<|im_start|>assistant\n")


def test_grading_rewards_are_parsed_normalised_and_in_order(grading_judge):
    results = grading_judge.score(PROMPTS, COMPLETIONS)
    assert len(results) == len(PROMPTS)
    parsed = [r for r in results if r.ok]
    assert parsed, "the grading prompt is answered with a number by the embedded judge"
    for r in results:
        if r.ok:
            assert 1 <= r.score <= 9 and math.isclose(r.reward, (r.score - 1) / 8) and not r.fallback
            assert r.raw.lstrip().startswith(str(r.score))
        else:  # e.g. "10": out of range is a failure, never clamped to 9
            assert r.reward is None and r.fallback and r.error
    # each result belongs to its own input: judging one by one gives the same answers (greedy decoding)
    for i in range(len(PROMPTS)):
        alone = grading_judge.score([PROMPTS[i]], [COMPLETIONS[i]])[0]
        assert alone.raw == results[i].raw or alone.attempts > 1 or results[i].attempts > 1


def test_trl_signature_ignores_unknown_columns_and_uses_reference(grading_judge, default_judge):
    rewards = grading_judge(prompts=PROMPTS[:2], completions=COMPLETIONS[:2], completion_ids=[[1], [2]],
                            trainer_state=None, some_dataset_column=["x", "y"])
    assert len(rewards) == 2 and all(r is None or isinstance(r, float) for r in rewards)
    results = default_judge.score(["Q1", "Q2"], ["A1", "A2"], reference=["R1", "R2"])
    rewards = default_judge(prompts=["Q1", "Q2"], completions=["A1", "A2"], reference=["R1", "R2"])
    assert rewards == [r.reward for r in results]  # the reference column reached the judge input
    assert "R1" in default_judge.render("Q1", "A1", reference="R1") != default_judge.render("Q1", "A1")


def test_duplicates_are_judged_once(grading_judge):
    before = grading_judge.stats.duplicates_skipped
    results = grading_judge.score(["What is 2+2?"] * 4, ["4"] * 4)
    assert grading_judge.stats.duplicates_skipped - before == 3
    assert len({(r.score, r.raw) for r in results}) == 1


def test_fallback_constant_and_raise(default_judge):
    backend = default_judge.backend
    constant = GenerativeRewardModel(backend, JudgeConfig(protocol="prometheus-v2", rubric="helpfulness",
                                                          max_new_tokens=4, max_attempts=1, fallback=0.0), judge="default")
    result = constant.score(["What is 2+2?"], ["4"])[0]
    # four tokens cannot hold feedback and "[RESULT] n": a guaranteed failure
    assert not result.ok and result.fallback and result.reward == 0.0 and result.score is None
    assert constant.stats.fallbacks == 1 and constant.stats.parse_failures == 1
    strict = GenerativeRewardModel(backend, JudgeConfig(protocol="prometheus-v2", rubric="helpfulness",
                                                        max_new_tokens=4, max_attempts=1, fallback="raise"), judge="default")
    with pytest.raises(JudgeFailure, match="1 of 1 rollouts got no valid judge answer") as info:
        strict.score(["What is 2+2?"], ["4"])
    assert len(info.value.results) == 1 and info.value.results[0].fallback


def test_retries_sample_with_new_seeds(default_judge):
    rm = GenerativeRewardModel(default_judge.backend, JudgeConfig(protocol="prometheus-v2", rubric="helpfulness",
                                                                  max_new_tokens=4, max_attempts=3), judge="default")
    assert rm.config.attempt_plan().params(0).do_sample is False
    retry = rm.config.attempt_plan().params(2)
    assert retry.do_sample and retry.seed == rm.config.seed + 2 and retry.temperature == rm.config.retry_temperature
    result = rm.score(["Say hi."], ["Hi!"])[0]
    assert result.attempts == 3 and rm.stats.retries == 2


def test_loaded_model_and_tokenizer_can_be_passed(default_judge):
    backend = default_judge.backend
    rm = GenerativeRewardModel.from_pretrained(backend.model, protocol=GRADE_PROTOCOL, tokenizer=backend.tokenizer,
                                               chat_format="raw", max_new_tokens=4)
    assert len(rm(["What is 2+2?"], ["4"])) == 1
    with pytest.raises(ValueError, match="pass its tokenizer"):
        GenerativeRewardModel.from_pretrained(backend.model)


def test_peft_adapter_folder_is_resolved_onto_its_base(tmp_path, grading_judge):
    """A real LoRA adapter saved by peft: from_pretrained(adapter_dir) loads its base and applies it."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from reward_judge.embedded import embedded_judge_path

    base_path, _ = embedded_judge_path()
    base = AutoModelForCausalLM.from_pretrained(base_path)
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], lora_alpha=4))
    peft_model.save_pretrained(tmp_path / "adapter")
    rm = GenerativeRewardModel.from_pretrained(str(tmp_path / "adapter"), protocol=GRADE_PROTOCOL, chat_format="raw",
                                               max_new_tokens=6, dtype="float32")
    assert isinstance(rm.backend.model, PeftModel)
    assert f"adapter:{tmp_path / 'adapter'}" in rm.backend.identity
    # LoRA starts with B = 0: the adapted judge must answer exactly like its base
    ours = rm.score(PROMPTS, COMPLETIONS)
    base_results = grading_judge.score(PROMPTS, COMPLETIONS)
    assert [r.raw for r in ours] == [r.raw for r in base_results]


def test_unknown_options_and_bad_values_are_named(default_judge):
    with pytest.raises(TypeError, match="unknown option"):
        GenerativeRewardModel.from_pretrained("default", batchsize=4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got -1"):
        GenerativeRewardModel.from_pretrained("default", batch_size=-1)
    with pytest.raises(ValueError, match="max_attempts must be a positive integer, got 0"):
        JudgeConfig(max_attempts=0)
    with pytest.raises(ValueError, match="unknown protocol 'prometheus-v3'"):
        GenerativeRewardModel.from_pretrained("default", protocol="prometheus-v3")
    with pytest.raises(ValueError, match="prompts and completions must have the same length, got 2 and 1"):
        default_judge.score(["a", "b"], ["x"])
    with pytest.raises(TypeError, match=r"completions\[1\] must be a string"):
        default_judge.score(["a", "b"], ["x", 3])
    with pytest.raises(ValueError, match="load_in_4bit=True.*needs a CUDA GPU"):
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        GenerativeRewardModel.from_pretrained("default", load_in_4bit=True)
