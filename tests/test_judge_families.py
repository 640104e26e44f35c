"""The verifier, critic and reasoning judge families: byte-exact prompts against their sheet, and their parsers.

The expected texts are cut out of tests/data/JUDGE_PROTOCOLS.md (written from the sources, not from the
library's templates) and filled here with `str.replace` in each source's own field syntax.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reward_judge import Rubric, get_protocol
from reward_judge.protocols.reasoning import FORCED_CLOSE, split_thinking
from reward_judge.protocols.rewardbench import RewardBenchFour, four_way_block
from reward_judge.scoring.answers import AnswerSpace

pytestmark = pytest.mark.unit

SHEET = (Path(__file__).parent / "data" / "JUDGE_PROTOCOLS.md").read_text(encoding="utf-8")
FIXTURES = dict(re.findall(r"^~~~~text fixture=(\w+)\n(.*?)\n~~~~$", SHEET, flags=re.S | re.M))

INSTRUCTION = "Explain why the sky is blue in two sentences. {keep braces} 한국어 中文 🙂"
RESPONSE = "Sunlight scatters off air molecules.\nBlue light scatters most (Rayleigh scattering)."
RESPONSE_B = "Because it reflects the ocean."
REFERENCE = "Shorter (blue) wavelengths are scattered much more strongly by air molecules."
RUBRIC = Rubric("Is the explanation scientifically correct?", [
    "Entirely wrong.", "Mostly wrong.", "Partly correct.", "Correct with small gaps.", "Correct and complete.",
])


def fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def slots(template: str, *values: str) -> str:
    for value in values:
        assert "{}" in template
        template = template.replace("{}", value, 1)
    return template


def contents(messages) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages]


def test_every_fixture_was_read():
    assert len(FIXTURES) == 19
    assert FIXTURES["multisub_rm"].startswith("\nGiven a problem") and FIXTURES["genrm_finetuned"].endswith(":\n")


# ------------------------------------------------------------------ GenRM family
def test_genrm_finetuned_renders_the_fixture():
    messages = get_protocol("genrm").render(INSTRUCTION, RESPONSE)
    assert contents(messages) == [("user", slots(FIXTURES["genrm_finetuned"], INSTRUCTION, RESPONSE))]


def test_genrm_prompted_renders_the_fixture():
    messages = get_protocol("genrm-prompted").render(INSTRUCTION, RESPONSE)
    assert contents(messages) == [("user", slots(FIXTURES["genrm_prompted"], INSTRUCTION, RESPONSE))]


def test_genrm_reference_renders_the_fixture_and_needs_a_reference():
    protocol = get_protocol("genrm-reference")
    messages = protocol.render(INSTRUCTION, RESPONSE, reference=REFERENCE)
    assert contents(messages) == [("user", slots(FIXTURES["genrm_reference"], INSTRUCTION, RESPONSE, REFERENCE))]
    assert "{{cases}}" in messages[0]["content"]  # the file's examples reach the judge as the file has them
    with pytest.raises(ValueError, match="reference is required"):
        protocol.render(INSTRUCTION, RESPONSE)
    with pytest.raises(ValueError, match="no reference slot"):
        get_protocol("genrm").render(INSTRUCTION, RESPONSE, reference=REFERENCE)


def test_general_verifier_and_multisub_render_their_fixtures():
    gv = get_protocol("general-verifier").render(INSTRUCTION, RESPONSE, reference=REFERENCE)
    assert contents(gv) == [("user", fill(FIXTURES["general_verifier"], **{
        "{question}": INSTRUCTION, "{ground_truth}": REFERENCE, "{student_answer}": RESPONSE}))]
    ms = get_protocol("multisub-rm").render(INSTRUCTION, RESPONSE, reference=REFERENCE)
    assert contents(ms) == [("user", fill(FIXTURES["multisub_rm"], **{
        "{question}": INSTRUCTION, "{response}": RESPONSE, "{reference}": REFERENCE}))]


@pytest.mark.parametrize("text, score", [
    ("Step 1 ok.\nVerification: Is the answer correct (Yes/No)? Yes", 1),
    ("Verification: Is the answer correct (Yes/No)? No", 0),
    ("Verification: Is the answer correct (Yes/No)? **Yes**", 1),
    ("verification: is the answer correct (yes/no)? YES", 1),
    # the last verdict wins
    ("Is the answer correct (Yes/No)? Yes\nWait, step 3 is wrong.\nIs the answer correct (Yes/No)? No", 0),
    # the format's echo ("? X") is no verdict, the real one after it is
    ("I must write 'Verification: Is the answer correct (Yes/No)? X'.\nVerification: Is the answer correct (Yes/No)? No", 0),
    # labelled verdicts when the judge dropped the question, and a bare answer
    ("The total is wrong.\nVerification: No", 0),
    ("Final answer: **Yes**", 1),
    ("Yes.", 1),
    ("**No**", 0),
])
def test_genrm_reads_the_last_verdict(text, score):
    verdict = get_protocol("genrm").parse(text)
    assert verdict.ok and verdict.score == score


@pytest.mark.parametrize("text", [
    "Verification: Is the answer correct (Yes/No)? X",          # the format, not a verdict
    "Yes, step 1 is right, but no, step 2 is not.",             # yes/no inside sentences
    "Final answer: No solution exists, so I cannot grade it.",  # a label followed by a sentence
    "Yesterday I thought Nobody would ask.",
    "",
])
def test_genrm_refuses_what_is_no_verdict(text):
    verdict = get_protocol("genrm").parse(text)
    assert not verdict.ok and verdict.error


@pytest.mark.parametrize("name, text, score", [
    ("general-verifier", "The values match.\nFinal Decision: Yes", 1),
    ("general-verifier", 'I should output "Final Decision: Yes" if equal. They differ.\nFinal Decision: No', 0),
    ("general-verifier", 'If correct, output "Final Decision: Yes".', None),  # only the quoted format
    ("multisub-rm", "YES", 1),
    ("multisub-rm", "**NO**", 0),
    ("multisub-rm", "no", 0),
    ("multisub-rm", "strictly 'YES' or 'NO'", None),  # quoted: the format's echo
    ("multisub-rm", "maybe", None),
])
def test_other_verifiers_parse(name, text, score):
    verdict = get_protocol(name).parse(text)
    assert verdict.score == score and verdict.ok == (score is not None)


@pytest.mark.parametrize("name", ["genrm", "genrm-prompted", "genrm-reference", "general-verifier"])
def test_verifier_answer_space_is_yes_no_with_yes_worth_one(name):
    space = AnswerSpace.of(get_protocol(name))
    assert space.values == ("No", "Yes") and space.scores == (0, 1)
    assert get_protocol(name).score_range == (0, 1)


def test_multisub_has_no_answer_slot_for_the_distribution_modes():
    with pytest.raises(ValueError, match="answer_prefix"):
        AnswerSpace.of(get_protocol("multisub-rm"))


# ------------------------------------------------------------------ Skywork-Critic
def test_skywork_critic_renders_the_card_prompt_as_one_user_message():
    messages = get_protocol("skywork-critic").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B)
    expected = fill(FIXTURES["skywork_critic"], **{"{{input}}": INSTRUCTION, "{{response_a}}": RESPONSE,
                                                   "{{response_b}}": RESPONSE_B})
    assert contents(messages) == [("user", expected)]
    assert expected.endswith("[The End of Assistant B's Answer]\n")
    assert "answers the user's question better. \nYour evaluation" in expected  # the trailing spaces


@pytest.mark.parametrize("text, winner", [
    ("[[A]]", "A"), ("[[B]]", "B"), ("  [[ B ]] ", "B"),
    ('The format is "[[A]]" if assistant A is better. [[B]]', "B"),  # echo skipped
    ("[[A]] ... on reflection [[B]]", "B"),                          # the last verdict
])
def test_skywork_critic_parse(text, winner):
    assert get_protocol("skywork-critic").parse(text).winner == winner


@pytest.mark.parametrize("text", ["A", "Assistant A is better.", "[[C]]", '"[[A]]" if assistant A is better'])
def test_skywork_critic_refuses_loose_letters(text):
    assert not get_protocol("skywork-critic").parse(text).ok


# ------------------------------------------------------------------ Selene
def selene_rubric_fields(rubric: Rubric) -> dict[str, str]:
    fields = {"{rubric_objective}": rubric.criteria}
    fields.update({f"{{rubric_score_{i}_description}}": d for i, d in enumerate(rubric.descriptions, 1)})
    return fields


def test_selene_absolute_renders_both_templates():
    protocol = get_protocol("selene-absolute")
    plain = protocol.render(INSTRUCTION, RESPONSE, rubric=RUBRIC)
    assert contents(plain) == [("user", fill(FIXTURES["selene_absolute"], **{
        "{user_input}": INSTRUCTION, "{assistant_response}": RESPONSE, **selene_rubric_fields(RUBRIC)}))]
    with_ref = protocol.render(INSTRUCTION, RESPONSE, rubric=RUBRIC, reference=REFERENCE)
    assert contents(with_ref) == [("user", fill(FIXTURES["selene_absolute_reference"], **{
        "{user_input}": INSTRUCTION, "{assistant_response}": RESPONSE, "{reference_response}": REFERENCE,
        **selene_rubric_fields(RUBRIC)}))]
    with pytest.raises(ValueError, match="score descriptions for 1 to 5"):
        protocol.render(INSTRUCTION, RESPONSE, rubric=Rubric("Good?", ["no", "yes"]))


def test_selene_pairwise_renders_the_fixture():
    messages = get_protocol("selene-pairwise").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B, rubric=RUBRIC)
    assert contents(messages) == [("user", fill(FIXTURES["selene_pairwise"], **{
        "{user_input}": INSTRUCTION, "{assistant_response_a}": RESPONSE, "{assistant_response_b}": RESPONSE_B,
        "{rubric_objective}": RUBRIC.criteria}))]


@pytest.mark.parametrize("text, score", [
    ("**Reasoning:** Accurate.\n\n**Result:** 4", 4),
    ("**Reasoning:** ok\n\n**Result**: 5", 5),
    ("**Result:** <an integer between 1 and 5>\n...\n**Result:** 2", 2),  # the echo, then the answer
    ("**Result:** 3 or 4", None),   # two answers are none
    ("**Result:** 7", None),        # out of range, never clamped
    ("Result: 4", None),            # not the trained marker
])
def test_selene_absolute_parse(text, score):
    verdict = get_protocol("selene-absolute").parse(text)
    assert verdict.score == score and verdict.ok == (score is not None)


@pytest.mark.parametrize("text, winner", [
    ("**Reasoning:** B is right.\n\n**Result:** B", "B"),
    ("**Result:** Response A", "A"),
    ("**Result:** <A or B>", None),
    ("**Result:** A or B", None),
])
def test_selene_pairwise_parse(text, winner):
    assert get_protocol("selene-pairwise").parse(text).winner == winner


# ------------------------------------------------------------------ reasoning judges
def test_rm_r1_instruct_renders_system_and_user():
    messages = get_protocol("rm-r1").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B)
    user = fill(FIXTURES["rmr1_user"], **{"{question}": INSTRUCTION, "{answer_a}": RESPONSE, "{answer_b}": RESPONSE_B})
    assert contents(messages) == [("system", FIXTURES["rmr1_system"]), ("user", user)]


def test_rm_r1_reasoning_and_judgelrm_render_their_fixtures():
    reasoning = get_protocol("rm-r1-reasoning").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B)
    assert contents(reasoning) == [("user", fill(FIXTURES["rmr1_reasoning"], **{
        "{question}": INSTRUCTION, "{answer_a}": RESPONSE, "{answer_b}": RESPONSE_B}))]
    lrm = get_protocol("judgelrm").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B)
    assert contents(lrm) == [("user", fill(FIXTURES["judgelrm"], **{
        "{question}": INSTRUCTION, "{answer_1}": RESPONSE, "{answer_2}": RESPONSE_B}))]
    assert lrm[0]["content"].endswith("<|im_start|>assistant\n<think>")


@pytest.mark.parametrize("text, winner", [
    ("A is vague. [[B]] maybe?\n</think>\n\nB is exact.\n<answer>[[B]]</answer>", "B"),
    # a verdict while thinking never counts, only the one after the last </think>
    ("Surely <answer>[[A]]</answer>... no.</think>\n\n<answer>[[B]]</answer>", "B"),
    ("<think>Think.</think><answer> [[A]] </answer>", "A"),
    ("<answer>[[A]]</answer>", "A"),  # no thinking at all, the answer first
])
def test_rm_r1_reasoning_reads_only_after_the_thinking(text, winner):
    assert get_protocol("rm-r1-reasoning").parse(text).winner == winner


@pytest.mark.parametrize("text, error", [
    ("Comparing... A is better [[A]] <answer>[[A]]</answer>", "never closed"),  # all of it is thinking
    ("done</think><answer>[[A]]</answer> or <answer>[[B]]</answer>", "both [[A]] and [[B]]"),
    ("done</think> I prefer A.", "no '<answer>[[A]]</answer>'"),
])
def test_rm_r1_reasoning_refusals(text, error):
    verdict = get_protocol("rm-r1-reasoning").parse(text)
    assert not verdict.ok and error in verdict.error


def test_rm_r1_instruct_hard_cases():
    p = get_protocol("rm-r1")
    assert p.parse("<type>Chat</type>\n<eval>...</eval>\n<answer>[[A]]</answer>").winner == "A"
    assert p.parse("Format: <answer>[[A/B]]</answer>. <answer>[[B]]</answer>").winner == "B"
    assert "both" in p.parse("[[A]] ... [[B]]").error  # RM-R1's own rule: naming both is no verdict


@pytest.mark.parametrize("text, winner", [
    ("1 is vague, 2 is exact.</think><answer>4</answer><answer>8</answer>", "B"),
    ("</think><answer> 9 </answer><answer>3</answer>", "A"),
    ("</think><answer>7</answer><answer>7</answer>", "tie"),
    ("<answer>9</answer><answer>1</answer> while thinking</think><answer>2</answer><answer>6</answer>", "B"),
    ("</think><answer>11</answer><answer>3</answer>", None),  # JudgeLRM's range is 0-10
    ("</think><answer>8</answer>", None),
    ("I think <answer>8</answer><answer>2</answer>", None),  # the prompt opened <think>: it never closed
    ("<answer>8</answer><answer>2</answer>", "A"),           # an answer that comes first skipped thinking
])
def test_judgelrm_parse(text, winner):
    verdict = get_protocol("judgelrm").parse(text)
    assert verdict.winner == winner and verdict.ok == (winner is not None)


def test_split_thinking_keeps_the_thinking_apart():
    thought = split_thinking("<think>\nhmm [[B]]</think>\n\n<answer>[[A]]</answer>", opened_by_prompt=False)
    assert thought.thinking == "\nhmm [[B]]" and thought.answer.strip() == "<answer>[[A]]</answer>"
    assert split_thinking("plain answer [[A]]", opened_by_prompt=False).answer == "plain answer [[A]]"
    assert FORCED_CLOSE == "\n</think>\n\n"


# ------------------------------------------------------------------ RewardBench prompts
def test_rewardbench_pair_renders_system_and_user():
    messages = get_protocol("rewardbench-pair").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B)
    user = fill(FIXTURES["rewardbench_pair_user"], **{"{question}": INSTRUCTION, "{answer_a}": RESPONSE,
                                                      "{answer_b}": RESPONSE_B})
    assert contents(messages) == [("system", FIXTURES["rewardbench_pair_system"]), ("user", user)]


def test_rewardbench_ratings_render_user_only():
    for name, fixture in (("rewardbench-ratings", "rewardbench_ratings"), ("rewardbench-ratings-ties", "rewardbench_ratings_ties")):
        messages = get_protocol(name).render(INSTRUCTION, RESPONSE)
        assert contents(messages) == [("user", fill(FIXTURES[fixture], **{"{prompt}": INSTRUCTION, "{completion}": RESPONSE}))]


def test_rewardbench_four_renders_the_four_answers():
    answers = [RESPONSE, RESPONSE_B, "Third answer.", "Fourth {answer}."]
    messages = get_protocol("rewardbench-four").render(INSTRUCTION, four_way_block(answers))
    user = fill(FIXTURES["rewardbench_four_user"], **{"{question}": INSTRUCTION, "{answer_a}": answers[0],
                                                      "{answer_b}": answers[1], "{answer_c}": answers[2],
                                                      "{answer_d}": answers[3]})
    assert contents(messages) == [("system", FIXTURES["rewardbench_four_system"]), ("user", user)]
    with pytest.raises(ValueError, match="four answers"):
        four_way_block(answers[:3])


@pytest.mark.parametrize("name, text, expected", [
    # RewardBench's order of checks, even when the judge names both
    ("rewardbench-pair", "Not [[B]]: [[A]]", "A"),
    ("rewardbench-pair", "[[B]]", "B"),
    ("rewardbench-pair", "[[C]]", None),
    ("rewardbench-four", "[[D]] beats [[B]]", 2),
    ("rewardbench-four", "[[D]]", 4),
    ("rewardbench-ratings", "Good answer.\n\n10", 10),
    ("rewardbench-ratings", "Rated 7 out of 10", 10),           # RewardBench reads the integer that ends the text
    ("rewardbench-ratings", "Rating: 7.", None),                # ... and nothing else after it
    ("rewardbench-ratings", "Score 0", None),
])
def test_rewardbench_parsers_follow_rewardbench(name, text, expected):
    verdict = get_protocol(name).parse(text)
    got = verdict.winner if get_protocol(name).pairwise else verdict.score
    assert got == expected


def test_rewardbench_four_letters():
    assert [RewardBenchFour.letter(s) for s in (1, 2, 3, 4)] == ["A", "B", "C", "D"]
    assert AnswerSpace.of(get_protocol("rewardbench-four")).candidates == ("A]]", "B]]", "C]]", "D]]")
