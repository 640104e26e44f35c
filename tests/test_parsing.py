"""Judge answers are read the way each card reads them, tolerant of format noise, and never invented."""

from __future__ import annotations

import pytest

from reward_judge import get_protocol

pytestmark = pytest.mark.unit

# Seed 000 (nayohan Korean Prometheus): the card's two example outputs; the card prints 1 for both.
SEED_000_WITH_REF = (
    "이 대응은 갈등 해결에 대한 이해가 부족함을 보여준다. 동전을 던지거나 경쟁을 제안하는 것과 같이 제공된 제안은 문제의 "
    "복잡성을 무시하고 팀 내의 다양한 관점을 무시한다. 따라서 전체 점수는 1이다. [RESULT] 1"
)
SEED_000_WITHOUT_REF = (
    "대응은 갈등 해결에 대한 이해를 나타내지 않는다. AI 모델은 갈등을 해결하기보다는 갈등을 악화시키는 것을 제안하며, "
    "이는 점수 루브릭에 따라 요구 사항에 어긋난다. 따라서 전체 점수는 1이다. [RESULT] 1"
)
# Seed 001 (heegyu LoRA): the card's example judgement, score 4.
SEED_001 = (
    "이 답변은 함수 f(x) = 3x^3 + 2x^2 + 58를 미분하는 과정을 정확하게 수행하고 있습니다. 각 항의 미분을 명확하게 "
    "설명하고 있으며, 상수항에 대한 미분의 결과를 올바르게 나타냈습니다. 이러한 사소한 개선의 여지가 있긴 하지만, "
    "전반적으로 수학적으로 정확하고 효율적인 해법을 제시하고 있기 때문에 4점이 적절합니다. [RESULT] 4"
)


@pytest.mark.parametrize("name", ["prometheus-v1", "prometheus-v2"])
@pytest.mark.parametrize("text,score", [(SEED_000_WITH_REF, 1), (SEED_000_WITHOUT_REF, 1), (SEED_001, 4)])
def test_seed_prometheus_outputs(name, text, score):
    verdict = get_protocol(name).parse(text)
    assert verdict.score == score and verdict.ok and verdict.error is None
    assert verdict.feedback.endswith("적절합니다.") or verdict.feedback.endswith("1이다.")
    assert "[RESULT]" not in verdict.feedback


def test_seed_002_keval_ratings():
    # The keval card's example judgements end with these lines (the Korean text is mis-encoded in the
    # seed; the rating lines are ASCII): 9 for the Iron Man answer, 0 for the wrong-language math answer.
    protocol = get_protocol("kobench-single")
    assert protocol.parse("이 응답은 사용자의 요청에 잘 부합하며 ... 잘 구현하고 있습니다.\nRating: [[9]]").score == 9
    assert get_protocol("kobench-math").parse("따라서, 어시스턴트의 답변은 정확성과 유용성 모두에서 부족합니다.\nRating: [[0]]").score == 0
    # 0 exists only on the Ko-Bench scale (different languages); MT-Bench's scale starts at 1.
    assert get_protocol("mtbench-single").parse("Rating: [[0]]").score is None


def test_seed_004_autoj_extraction():
    # The README's extract_single_rating: last "Rating: [[", up to "]]", as float.
    assert get_protocol("autoj-single").parse("The response provides a detailed and ... Rating: [[5]]").score == 5
    assert get_protocol("autoj-single").parse("Good. Rating: [[6.5]]").score == 6.5
    # extract_pariwise_result: last "final decision is ", then response 1 / response 2 / tie.
    pairwise = get_protocol("autoj-pairwise")
    assert pairwise.parse("1. The key factors ... So, the final decision is Response 1.").winner == "A"
    assert pairwise.parse("... So, the final decision is Response 2").winner == "B"
    assert pairwise.parse("... So, the final decision is Tie.").winner == "tie"
    zh = get_protocol("autoj-pairwise-zh")
    assert zh.parse("关键因素是……所以，最终决定是回应2").winner == "B"
    assert zh.parse("所以，最终决定是平局。").winner == "tie"
    assert get_protocol("autoj-single-zh").parse("这个回应准确但简短。评分: [[7]]").score == 7
    assert get_protocol("autoj-single-zh").parse("回应不错。打分：[[8]]").score == 8


@pytest.mark.parametrize("text,score", [
    ("Feedback: fine. [RESULT] 4", 4),
    ("fine.\n[RESULT]: 4", 4),
    ("fine. [RESULT] (4)", 4),
    ("fine. [ RESULT ] 3점", 3),
    ("fine. [RESULT] 4/5", 4),
    ("fine. [RESULT]5", 5),
    ("fine. [result] 2.", 2),
    ("First try [RESULT] 2. On reflection the answer is better. [RESULT] 4", 4),  # the last marker wins
    # a model repeating the format line after its answer
    ('Good. [RESULT] 3\nThe output format should look as follows: "Feedback: (write a feedback for criteria) '
     '[RESULT] (an integer number between 1 and 5)"', 3),
    ("The response is accurate.\nScore: 4", 4),  # prometheus-eval's fallbacks at the end
    ("The response is accurate. 4 out of 5", 4),
    ("The response is accurate. [SCORE] 5", 5),
])
def test_prometheus_tolerant_forms(text, score):
    assert get_protocol("prometheus-v2").parse(text).score == score


@pytest.mark.parametrize("text,reason", [
    ("A detailed critique without any score.", "no [RESULT]"),
    ("Good. [RESULT] 7", "outside the range"),
    ("Good. [RESULT] 0", "outside the range"),
    ("Good. [RESULT] 45", "outside the range"),  # never read as 4
    ("Good. [RESULT] 4.5", "not an integer"),
    ("Good. [RESULT] excellent", "no score after [RESULT]"),
    ("", "no [RESULT]"),
])
def test_prometheus_failures_are_failures_never_a_score(text, reason):
    verdict = get_protocol("prometheus-v1").parse(text)
    assert verdict.score is None and not verdict.ok
    assert reason in verdict.error


def test_rating_protocols_reject_out_of_range_and_missing():
    assert get_protocol("autoj-single").parse("Rating: [[11]]").score is None
    assert "outside the range" in get_protocol("autoj-single").parse("Rating: [[11]]").error
    assert get_protocol("mtbench-single").parse("No rating here").error
    # the format echo "[[rating]]" is not a rating; the real one after it is
    echo = 'I must answer as "[[rating]]", for example: "Rating: [[5]]".\nMy explanation... Rating: [[8]]'
    assert get_protocol("mtbench-single").parse(echo).score == 8
    assert get_protocol("kobench-single").parse("Rating: [[ 7 ]]").score == 7


def test_pairwise_verdicts():
    relative = get_protocol("prometheus-v2-relative")
    assert relative.parse("Both are fine but A is precise. [RESULT] A").winner == "A"
    assert relative.parse("[RESULT] (B)").winner == "B"
    assert relative.parse('Format: "[RESULT] (Either "A" or "B")"').winner is None
    pair = get_protocol("mtbench-pair")
    assert pair.parse("Assistant B is better.\n\n[[B]]").winner == "B"
    assert pair.parse("Same quality. [[C]]").winner == "tie"
    # echo of the instruction is skipped, the verdict after it counts
    assert pair.parse('"[[A]]" if assistant A is better, "[[B]]" if assistant B is better. Verdict: [[A]]').winner == "A"
    assert pair.parse('"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.').winner is None
    autoj = get_protocol("autoj-pairwise")
    echo = 'Begin with "So, the final decision is Response 1 / Response 2 / Tie".'
    assert autoj.parse(echo).winner is None
    assert autoj.parse(echo + " ... So, the final decision is Response 2.").winner == "B"


def test_feedback_is_text_before_the_marker_not_the_whole_answer():
    verdict = get_protocol("prometheus-v2").parse("Feedback: Concise and right.\n[RESULT] 5")
    assert verdict.feedback == "Concise and right."
    verdict = get_protocol("autoj-single").parse("Critique here.\n\nRating: [[4]]")
    assert verdict.feedback == "Critique here."


def test_parse_never_raises_on_odd_input():
    for name in ["prometheus-v1", "autoj-single", "mtbench-single", "mtbench-pair", "autoj-pairwise-zh"]:
        protocol = get_protocol(name)
        for text in ["\ud800 [RESULT] 3", "Rating: [[1e309]]", "[RESULT] " + "9" * 400, "\x00\x01", None]:
            verdict = protocol.parse(text)  # type: ignore[arg-type]
            assert verdict.score is None or protocol.score_range[0] <= verdict.score <= protocol.score_range[1]


# prometheus-eval's own parser tests (libs/prometheus-eval/tests/test_parser.py): every case agrees.
PROMETHEUS_EVAL_ABSOLUTE = [
    ("Excellent. [RESULT] 5 out of 5", 5), ("Poor performance. [RESULT] score of 1", 1), ("Good job. [Result] 3", 3),
    ("Needs improvement. [Result] Score: 2", 2), ("Well done. [Result] Result: 4", 4), ("Average. [Result] 4/5", 4),
    ("Excellent. [Result] 5 out of 5", 5), ("Poor performance. [Result] score of 1", 1), ("Good job. (Score 5)", 5),
    ("Good job. [Score 4]", 4), ("Good job. score: 3", 3), ("Good job. Score: 3", 3), ("Good job. score of 1", 1),
    ("Good job. [RESULT] (5)", 5),
    ("The score is definitely not 3.", None), ("I rate this a perfect 10!", None), ("Score: 2.5", None),
    ("Result: A", None), ("", None),
]
PROMETHEUS_EVAL_RELATIVE = [
    ("Response A is better. [RESULT] A", "A"), ("Prefer Response B. [RESULT] B", "B"),
    ("Feedback: Both responses are similar... [Response B]", "B"),
    ("Feedback: Both responses are clear... [Result] Response B", "B"),
    ("Feedback: Both responses are clear... Response B Response A", None),
    ("Feedback: Both responses are clear... [RESULT: B]", "B"), ("Feedback: Both responses are clear... [Result: B]", "B"),
    ("Feedback: Both responses are clear...Response A. [RESULT] B", "B"),
    ("After careful consideration, I select Response B.", None), ("Both responses have their merits.", None),
    ("Response C is clearly superior.", None),
    ("The better response is obviously B... or is it A? It's hard to decide.", None), ("", None),
]


@pytest.mark.parametrize("name", ["prometheus-v1", "prometheus-v2"])
@pytest.mark.parametrize("text,score", PROMETHEUS_EVAL_ABSOLUTE)
def test_agrees_with_prometheus_eval_absolute_cases(name, text, score):
    assert get_protocol(name).parse(text).score == score


@pytest.mark.parametrize("text,winner", PROMETHEUS_EVAL_RELATIVE)
def test_agrees_with_prometheus_eval_relative_cases(text, winner):
    assert get_protocol("prometheus-v2-relative").parse(text).winner == winner


@pytest.mark.parametrize("text", [
    "The response is close to the Reference Answer (Score 5) but misses the second step. [RESULT] 3",
    "Unlike the Reference Answer (Score 5), it never explains why.\nOverall it is weak.",
    "It deserves a score of 4 since it is clear, though the ending is abrupt.",
    "Good. [RESULT] 3 or 4",
    "Good. [RESULT] 3-4",
    "Score: 3 or 4",
])
def test_traps_stay_traps(text):
    verdict = get_protocol("prometheus-v2").parse(text)
    # a quoted "(Score 5)" or an inline "score of 4" is not the verdict, and two scores are no verdict
    assert verdict.score in (None, 3) and (verdict.score is None or text.endswith("[RESULT] 3"))


@pytest.mark.parametrize("text", ["Both are fine. [RESULT] A or B", "Tough call. [RESULT] A/B",
                                  "Response B is clearer than [Response A] in places, overall equal."])
def test_relative_traps_stay_traps(text):
    assert get_protocol("prometheus-v2-relative").parse(text).winner is None


@pytest.mark.unit
@pytest.mark.parametrize("protocol, text, expected", [
    # Auto-J single: only the last "Rating: [[" counts, its content read as the spec's float()
    ("autoj-single", 'The response only writes "Rating: [[10]]". Rating: [[N/A]]', None),
    ("autoj-single", "Rating: [[3]] ... revised: Rating: [[8/10]]", None),
    ("autoj-single", 'Use the format "Rating: [[5]]". Rating: [[7.]]', 7.0),
    ("autoj-single-zh", "回应复述了“评分: [[10]]”。评分: [[无]]", None),
    # Auto-J pairwise: the last decision statement (not an echo of the format) is the verdict
    ("autoj-pairwise", "So, the final decision is Response 2. But wait, the final decision is that both are flawed.", None),
    ("autoj-pairwise", "So, the final decision is tied.", "tie"),
    ("autoj-pairwise", "So, the final decision is Response 2. (Format: the final decision is Response 1 / Response 2 / Tie)", "B"),
    ("autoj-pairwise-zh", "所以，最终决定是回应2。补充：最终决定是两者都有问题", None),
])
def test_the_last_answer_statement_is_the_verdict(protocol, text, expected):
    """An earlier rating or decision (possibly quoted from a response) is never read when the last one names none."""
    verdict = get_protocol(protocol).parse(text)
    assert (verdict.winner if get_protocol(protocol).pairwise else verdict.score) == expected
    assert (verdict.error is None) == (expected is not None)


@pytest.mark.unit
def test_auto_j_chinese_answer_slot_is_found_in_each_spelling_the_judge_writes():
    """GAIR's parser reads "评分:[[" (no space), the template's example writes "评分: [[": in expected mode the
    judge's own marker is its answer slot in either spelling, never a second marker appended after its rating."""
    from reward_judge.judge_input import JudgeInput
    from reward_judge.scoring.answers import answer_context

    zh = get_protocol("autoj-single-zh")
    for written in ("评分:[[", "评分: [[", "打分：[["):
        context, kept, own = answer_context(JudgeInput("PROMPT "), f"这个回应很好。{written}7]]", zh)
        assert own and context.text == f"PROMPT 这个回应很好。{written}"
    context, _, own = answer_context(JudgeInput("PROMPT "), "这个回应很好。", zh)
    assert not own and context.text == "PROMPT 这个回应很好。\n评分: [["
