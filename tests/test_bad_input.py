"""Bad input: a clear error naming the argument and the value, or a documented, counted fallback."""

from __future__ import annotations

import re

import pytest

from reward_judge import GenerativeRewardModel
from reward_judge.config import JudgeConfig
from reward_judge.presets import get_preset
from reward_judge.protocols import get_protocol
from reward_judge.rubric import Rubric


@pytest.fixture
def rm(make_rm):
    return make_rm()


@pytest.mark.parametrize("call, error, message", [
    (lambda rm: rm.score(["a", "b"], ["x"]), ValueError,
     "prompts and completions must have the same length, got 2 and 1"),
    (lambda rm: rm.score("a prompt", ["x"]), TypeError, "prompts must be a list, got str: 'a prompt'"),
    (lambda rm: rm.score(["a"], [42]), TypeError, "completions[0] must be a string or a list of chat messages, got int: 42"),
    (lambda rm: rm.score(["a", "b"], ["x", None]), TypeError,
     "completions[1] must be a string or a list of chat messages, got NoneType: None"),
    (lambda rm: rm.score([None], ["x"]), TypeError, "prompts[0] must be a string or a list of chat messages, got NoneType"),
    (lambda rm: rm.score(["a"], [[{"role": "assistant", "content": None}]]), TypeError,
     "completions[0][0]['content'] must be a string, got NoneType"),
    (lambda rm: rm.score(["a", "b"], ["x", "y"], reference=["r"]), ValueError,
     "reference must be one value or a list of 2 values (one per completion), got 1"),
    (lambda rm: rm.score(["a"], ["x"], reference="the answer"), ValueError,
     "protocol 'digit-1-9' has no reference slot, but reference='the answer' was given"),
])
@pytest.mark.model
def test_bad_call_arguments(rm, call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(rm)


@pytest.mark.model
def test_unknown_protocol_and_preset(judge_backend):
    with pytest.raises(ValueError, match=r"unknown protocol 'prometheus-v9'; known protocols: prometheus-v1"):
        GenerativeRewardModel.from_pretrained(judge_backend, protocol="prometheus-v9")
    with pytest.raises(ValueError, match=r"no preset for judge 'no-such/judge'; presets exist for"):
        get_preset("no-such/judge")


@pytest.mark.model
def test_reference_required_and_missing(judge_backend):
    rm = GenerativeRewardModel.from_pretrained(judge_backend, protocol="mtbench-math", chat_format="raw")
    with pytest.raises(ValueError, match=r"protocol 'mtbench-math' needs a reference answer: reference is required, got None"):
        rm.render("2+2?", "4")


@pytest.mark.model
def test_rubric_without_score_descriptions(judge_backend):
    rm = GenerativeRewardModel.from_pretrained(judge_backend, protocol="prometheus-v2", chat_format="raw")
    with pytest.raises(ValueError, match=r"needs score descriptions 'Score 1:' to 'Score 5:' in the rubric; missing "
                                         r"\['Score 1:'.*rubric='Is the answer polite\?'"):
        rm.render("Hi", "Hello", rubric="Is the answer polite?")
    three = Rubric("Polite?", ["rude", "neutral", "polite"])
    with pytest.raises(ValueError, match=r"needs a rubric with score descriptions for 1 to 5, got scores \[1, 2, 3\]"):
        rm.render("Hi", "Hello", rubric=three)
    with pytest.raises(ValueError, match=r"A rubric mapping needs 'descriptions' or 'score1_description'"):
        rm.render("Hi", "Hello", rubric={"criteria": "Polite?"})
    with pytest.raises(ValueError, match=r"protocol 'autoj-single' has no rubric slot, but rubric='Polite\?' was given"):
        get_protocol("autoj-single").render("Hi", "Hello", rubric="Polite?")


@pytest.mark.parametrize("option, value, message", [
    ("batch_size", -1, "batch_size must be a positive integer, got -1"),
    ("batch_size", 0, "batch_size must be a positive integer, got 0"),
    ("max_attempts", 0, "max_attempts must be a positive integer, got 0"),
    ("max_new_tokens", 2.5, "max_new_tokens must be a positive integer, got 2.5"),
    ("temperature", 0, "temperature must be a positive number, got 0"),
    ("top_p", 1.5, "top_p must be in (0, 1], got 1.5"),
    ("fallback", "maybe", "fallback must be None, 'min', 'raise' or a finite number, got 'maybe'"),
    ("normalize", "log", "normalize='log' is not one of"),
    ("chat_format", "chatml2", "chat_format='chatml2' is not one of"),
    ("max_input_tokens", 0, "max_input_tokens must be a positive integer or None, got 0"),
    ("truncation", "tail", "truncation='tail' is not one of ('head_tail', 'fail')"),
    ("cache_memory_size", -5, "cache_memory_size must be a non-negative integer, got -5"),
    ("cache", 3.5, "cache must be None, True, a file path or a JudgeCache, got 3.5"),
])
@pytest.mark.model
def test_invalid_option_values(judge_backend, option, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        JudgeConfig.build(**{option: value})
    with pytest.raises(ValueError, match=re.escape(message)):
        GenerativeRewardModel.from_pretrained(judge_backend, protocol="autoj-single", **{option: value})


@pytest.mark.unit
@pytest.mark.parametrize("option, value, message", [
    ("temperature", float("nan"), "temperature must be a positive number, got nan"),
    ("retry_temperature", float("nan"), "retry_temperature must be a positive number, got nan"),
    ("repetition_penalty", float("inf"), "repetition_penalty must be a positive number, got inf"),
    ("do_sample", "no", "do_sample must be True or False, got 'no' (str)"),
    ("cache_sampled", "False", "cache_sampled must be True or False, got 'False' (str)"),
    ("log_feedback", 1, "log_feedback must be True or False, got 1 (int)"),
    ("reference_column", 3, "reference_column must be a string or None, got 3 (int)"),
    ("prefix_cache", "no", "prefix_cache must be True or False, got 'no' (str)"),
    ("both_orders", "yes", "both_orders must be True or False, got 'yes' (str)"),
])
def test_non_finite_numbers_and_text_flags_are_refused(option, value, message):
    """A NaN temperature would pass until the first retry, hours into training; a flag given as text ("no")
    is truthy and would silently turn sampling on: both are refused when the config is built."""
    with pytest.raises(ValueError, match=re.escape(message)):
        JudgeConfig.build(**{option: value})


@pytest.mark.model
def test_unknown_option_is_named(judge_backend):
    with pytest.raises(TypeError, match=r"unknown option 'batchsize' \(= 4\); did you mean 'batch_size'\?"):
        GenerativeRewardModel.from_pretrained(judge_backend, batchsize=4)


@pytest.mark.unit
def test_option_of_another_backend_is_named():
    with pytest.raises(TypeError, match=r"option base_url='http://x' belongs to backend 'openai', but backend='transformers'"):
        GenerativeRewardModel.from_pretrained("default", base_url="http://x")
    with pytest.raises(TypeError, match=r"option batch_size=4 belongs to backend 'transformers', but backend='openai'"):
        JudgeConfig.build(backend="openai", base_url="http://x", batch_size=4)


@pytest.mark.model
def test_empty_completions_are_judged_not_crashed(rm):
    results = rm.score(["What is 2+2?", "Say something."], ["", "   "])
    assert len(results) == 2
    for r in results:  # judged like any other: a parsed score, or an honest counted fallback
        assert r.attempts >= 1 and (r.ok or (r.fallback and r.error))
    assert rm.stats.rollouts == 2


@pytest.mark.unit
@pytest.mark.parametrize("logprobs", [[-1.0, float("nan"), -2.0], [float("nan"), -1.0], [float("inf"), -1.0]])
def test_an_invalid_log_probability_is_a_failure_never_a_nan_reward(logprobs):
    """Python's max() skips a NaN that is not first: the read must fail wherever the NaN sits."""
    from reward_judge.scoring.answers import normalise

    with pytest.raises(ValueError, match=re.escape("the judge returned invalid log-probabilities for its answers")):
        normalise(logprobs)


@pytest.mark.unit
def test_a_non_finite_reward_from_normalize_is_a_counted_fallback():
    from reward_judge import Judgment, Verdict
    from reward_judge.rewarding import RewardRule, to_result

    prometheus = get_protocol("prometheus-v2")
    judged = Judgment(Verdict(score=4), raw="[RESULT] 4", attempts=1)
    result = to_result(judged, prometheus, RewardRule(lambda s: float("nan"), fallback=0.0), mode="generate")
    assert (result.ok, result.fallback, result.reward, result.score) == (False, True, 0.0, 4)
    assert result.error.startswith("the reward is not a finite number: nan (score=4")
    with pytest.raises(ValueError, match=r"normalize=<function .*> raised ZeroDivisionError on the verdict score=4"):
        to_result(judged, prometheus, RewardRule(lambda s: 1 / 0), mode="generate")


@pytest.mark.unit
def test_a_missing_reference_read_by_pandas_names_its_row():
    from tests._scripted import scripted_model

    rm = scripted_model()
    with pytest.raises(TypeError, match=re.escape("reference[1] must be a string or None, got float: nan (a missing value?")):
        rm.score(["p", "q"], ["x", "y"], reference=["the answer", float("nan")])
    np = pytest.importorskip("numpy")
    # an array column is one value per row, not one value repeated on every row
    results = rm.score(["p", "q"], ["x", "y"], reference=np.array(["first", "second"]))
    assert [r.ok for r in results] == [True, True]
    assert "first" in rm.render("p", "x", reference="first")


@pytest.mark.unit
def test_completions_b_is_one_text_for_every_row_or_a_list_of_one_per_row():
    """One completions_b text was split into characters (row i compared against its i-th character, HTTP 200 on the
    server), and a JSON object was judged as its key names."""
    from starlette.testclient import TestClient

    from reward_judge.integrations.server import create_app
    from tests._scripted import scripted_model

    rm = scripted_model(protocol="prometheus-v2-relative", mode="generate", max_attempts=1)
    prompts, completions = ["Q1", "Q2", "Q3"], ["x winner=B", "y winner=B", "z winner=A"]
    each = [r.reward for r in rm.score(prompts, completions, completions_b=["abc"] * 3)]
    assert [r.reward for r in rm.score(prompts, completions, completions_b="abc")] == each
    assert "###Response B:\nabc\n" in rm.request("Q1", "x", completion_b="abc").input.text
    for bad in ({"k1": 1, "k2": 2, "k3": 3}, b"abc"):
        with pytest.raises(TypeError, match="completions_b must be one text or a list of 3 completions"):
            rm.score(prompts, completions, completions_b=bad)
    with TestClient(create_app(rm)) as client:
        one = client.post("/v1/score", json={"prompts": prompts, "completions": completions, "completions_b": "abc"})
        assert one.status_code == 200 and one.json()["rewards"] == each
        other = client.post("/v1/score", json={"prompts": prompts, "completions": completions,
                                               "completions_b": "the other answer winner=A"})
        assert other.status_code == 200  # 422 before: "must have 3 items, got 25" (its characters)
        assert other.json()["rewards"] == [r.reward for r in rm.score(prompts, completions,
                                                                      completions_b=["the other answer winner=A"] * 3)]
        keys = client.post("/v1/score", json={"prompts": prompts, "completions": completions,
                                              "completions_b": {"k1": 1, "k2": 2, "k3": 3}})
        assert keys.status_code == 422 and "completions_b" in keys.json()["detail"]


@pytest.mark.unit
def test_the_rubrics_path_fits_columns_and_a_refused_request_is_not_a_failed_judging():
    """fit_columns was skipped when a request listed rubrics (200 with rubric, 422 with rubrics), one rubric object
    was refused as not one value, and every 422 was also counted as a judging failure in /metrics."""
    from starlette.testclient import TestClient

    from reward_judge import CustomProtocol
    from reward_judge.integrations.server import create_app
    from tests._scripted import scripted_model

    protocol = CustomProtocol(custom_name="rubric-only", template="{instruction}\n{response}\n{rubric}",
                              answer_pattern=r"\[RESULT\] (\d)", range=(1, 5))
    rm = scripted_model(protocol=protocol, rubric="helpfulness", mode="generate", max_attempts=1)
    rubric = {"criteria": "Concise?", "descriptions": ["a", "b", "c", "d", "e"]}
    body = {"prompts": ["Q score=4"], "completions": ["A"], "reference": ["gold"], "fit_columns": True}
    with TestClient(create_app(rm)) as client:
        single = client.post("/v1/score", json=dict(body, rubric=rubric))
        listed = client.post("/v1/score", json=dict(body, rubrics=["helpfulness", rubric]))
        assert single.status_code == listed.status_code == 200
        assert listed.json()["rewards"] == [[0.75, 0.75]] and single.json()["rewards"] == [0.75]
        assert client.post("/v1/score", json=dict(body, rubrics=["helpfulness"], fit_columns="yes")).status_code == 422
        refused = client.post("/v1/score", json={"prompts": ["Q"], "completions": ["A"], "reference": ["gold"]})
        assert refused.status_code == 422 and "no reference slot" in refused.json()["detail"]
        metrics = client.get("/metrics").text
    failed = [line for line in metrics.splitlines() if line.startswith("reward_judge_batch_errors_total")]
    assert failed and float(failed[0].split()[-1]) == 0.0
