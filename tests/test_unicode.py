"""Unicode of every kind goes through rendering, the judge, the SQLite cache and parsing unharmed."""

from __future__ import annotations

import pytest

from reward_judge.cache import JudgeCache, cache_key
from reward_judge.protocols import get_protocol, list_protocols

SAMPLES = {
    "korean": "서울은 대한민국의 수도입니다.",
    "chinese": "北京是中国的首都。",
    "emoji": "Great answer 😀👍🏽 👨‍👩‍👧",
    "rtl": "العاصمة هي القاهرة \u202eRTL override\u202c שלום",
    "control": "tab\tnul\x00bell\x07 esc\x1b[31m cr\r zero-width\u200b",
    "surrogate": "broken \ud800 half",
}


@pytest.mark.model
def test_every_kind_of_text_is_judged_and_cached(make_rm, tmp_path):
    path = tmp_path / "unicode.sqlite"
    rm = make_rm(cache=str(path), max_attempts=1)
    names = list(SAMPLES)
    prompts = [f"Say it in your language: {name}" for name in names]
    completions = [SAMPLES[name] for name in names]
    first = rm.score(prompts, completions)
    assert len(first) == len(names)
    for name, result in zip(names, first):
        assert result.error is None or "backend" not in result.error, (name, result.error)
    for name in names[:-1]:  # rendered exactly, character for character
        assert SAMPLES[name] in rm.render(prompts[names.index(name)], SAMPLES[name])
    # a lone surrogate cannot be tokenized: it reaches the judge as U+FFFD, visibly
    assert "broken \ufffd half" in rm.render(prompts[-1], SAMPLES["surrogate"])

    again = make_rm(cache=str(path), max_attempts=1).score(prompts, completions)
    for before, after in zip(first, again):
        if before.ok:
            assert after.cached and (after.score, after.raw, after.feedback) == (before.score, before.raw, before.feedback)


@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.unit
def test_cache_round_trips_any_text(tmp_path, name):
    text = SAMPLES[name]
    cache = JudgeCache(tmp_path / "c.sqlite", memory_size=0)
    key = cache_key("judge", text, "p", "1", {"mode": "generate"})
    cache.put(key, {"feedback": text, "raw": text, "score": 3})
    assert JudgeCache(tmp_path / "c.sqlite").get(key) == {"feedback": text, "raw": text, "score": 3}


@pytest.mark.parametrize("protocol", list_protocols())
@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.unit
def test_parsing_keeps_unicode_feedback(protocol, name):
    # the listwise parser reads against the ids shown in the call
    p = get_protocol(protocol, **({"ids": ("1",)} if protocol == "listwise" else {}))
    answer = {"prometheus-v2-relative": "[RESULT] A", "autoj-pairwise": "So, the final decision is Response 1",
              "autoj-pairwise-zh": "所以，最终决定是回应1", "mtbench-pair": "[[A]]", "listwise": '{"1": 3}',
              "skywork-critic": "[[A]]", "selene-absolute": "**Result:** 3", "selene-pairwise": "**Result:** A",
              "rm-r1": "<answer>[[A]]</answer>", "rm-r1-reasoning": "</think><answer>[[A]]</answer>",
              "judgelrm": "</think><answer>3</answer><answer>2</answer>", "rewardbench-pair": "[[A]]",
              "rewardbench-ratings": "3", "rewardbench-ratings-ties": "3", "rewardbench-four": "[[C]]",
              "general-verifier": "Final Decision: Yes", "multisub-rm": "YES"}.get(protocol)
    if answer is None:
        answer = ("[RESULT] 3" if protocol.startswith("prometheus") else
                  "Verification: Is the answer correct (Yes/No)? Yes" if protocol.startswith("genrm") else "Rating: [[3]]")
    verdict = p.parse(f"{SAMPLES[name]}\n{answer}")
    assert verdict.ok, (protocol, verdict.error)
    if not p.pairwise:
        assert verdict.score == (1 if p.score_range == (0, 1) else 3)
    if verdict.feedback:  # the text before the answer comes back whole
        assert SAMPLES[name].split()[0] in verdict.feedback
