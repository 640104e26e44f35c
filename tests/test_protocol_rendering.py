"""Every protocol renders byte for byte what PROTOCOLS.md documents, with and without references.

The expected text is cut out of tests/data/PROTOCOLS.md (a copy of the project's protocol sheet)
here in the test, independently of the templates the library carries.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reward_judge import Rubric, get_protocol, get_rubric, list_protocols

pytestmark = pytest.mark.unit

SHEET = (Path(__file__).parent / "data" / "PROTOCOLS.md").read_text(encoding="utf-8")

INSTRUCTION = "Explain why the sky is blue in two sentences. {keep braces} 한국어 中文 🙂"
RESPONSE = "Sunlight scatters off air molecules.\nBlue light scatters most (Rayleigh scattering)."
RESPONSE_B = "Because it reflects the ocean."
REFERENCE = "Shorter (blue) wavelengths are scattered much more strongly by air molecules."
RUBRIC = Rubric("Is the explanation scientifically correct?", [
    "Entirely wrong.", "Mostly wrong.", "Partly correct.", "Correct with small gaps.", "Correct and complete.",
])


def indented_blocks(text: str) -> list[str]:
    """The sheet's 4-space indented blocks, de-indented, in order."""
    blocks, current = [], []
    for line in text.split("\n"):
        if line.startswith("    ") or (current and not line.strip()):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    out = []
    for block in blocks:
        while block and not block[-1].strip():
            block.pop()
        out.append("\n".join(line[4:] for line in block))
    return out


BLOCKS = indented_blocks(SHEET)


def block_starting(prefix: str) -> str:
    found = [b for b in BLOCKS if b.startswith(prefix)]
    assert len(found) == 1, f"expected one block starting with {prefix!r}"
    return found[0]


def one_line(prefix: str) -> str:
    """A one-line template whose newlines are written as \\n in the sheet."""
    return block_starting(prefix).replace("\\n", "\n")


def fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


RUBRIC_TEXT = fill(block_starting("[{criteria}]"), criteria=RUBRIC.criteria,
                   **{f"score{i}_description": d for i, d in enumerate(RUBRIC.descriptions, 1)})
PROMETHEUS_1 = block_starting("###Task Description:\nAn instruction (might include an Input inside it), a response")
PROMETHEUS_REL = block_starting("###Task Description:\nAn instruction (might include an Input inside it), two responses")


def prometheus_1(reference: str | None) -> str:
    text = PROMETHEUS_1
    if reference is None:
        text = text.replace("###Reference Answer (Score 5):\n{reference_answer}\n\n", "")
    return fill(text, instruction=INSTRUCTION, response=RESPONSE, reference_answer=reference or "", rubric=RUBRIC_TEXT)


def test_rubric_block_matches_sheet():
    assert RUBRIC.render() == RUBRIC_TEXT


@pytest.mark.parametrize("reference", [REFERENCE, None])
def test_prometheus_v1(reference):
    messages = get_protocol("prometheus-v1").render(INSTRUCTION, RESPONSE, reference=reference, rubric=RUBRIC)
    assert messages == [
        {"role": "system", "content": "You are a fair evaluator language model."},
        {"role": "user", "content": prometheus_1(reference)},
    ]
    if reference is None:  # the task description is kept exactly as it is (seed 000: "System prompt is fixed")
        assert "a reference answer that gets a score of 5" in messages[1]["content"]
        assert "###Reference Answer" not in messages[1]["content"]


@pytest.mark.parametrize("reference", [REFERENCE, None])
def test_prometheus_v2(reference):
    expected = prometheus_1(reference).replace(
        '"Feedback: (write a feedback for criteria) [RESULT]', '"(write a feedback for criteria) [RESULT]')
    if reference is None:
        expected = expected.replace(", a reference answer that gets a score of 5", "", 1)
    messages = get_protocol("prometheus-v2").render(INSTRUCTION, RESPONSE, reference=reference, rubric=RUBRIC)
    assert messages[0] == {"role": "system", "content": (
        "You are a fair judge assistant tasked with providing clear, objective feedback based on specific criteria, "
        "ensuring each assessment reflects the absolute standards set for performance.")}
    assert messages[1] == {"role": "user", "content": expected}
    assert expected.endswith("###Feedback: ")


@pytest.mark.parametrize("reference", [REFERENCE, None])
def test_prometheus_v2_relative(reference):
    expected = PROMETHEUS_REL
    if reference is None:
        # the sheet quotes the official no-reference first sentence (comma after the parenthesis kept)
        sentence = re.search(r"Without reference: the first sentence becomes `(.+?)`", SHEET, re.DOTALL).group(1)
        first = expected.split("\n")[1]
        expected = expected.replace(first, " ".join(sentence.split()), 1).replace(
            "###Reference Answer:\n{reference_answer}\n\n", "")
        assert "Response B), and an evaluation criteria are given." in expected
    expected = fill(expected, instruction=INSTRUCTION, response_A=RESPONSE, response_B=RESPONSE_B,
                    reference_answer=reference or "", rubric="[" + RUBRIC.criteria + "]")
    messages = get_protocol("prometheus-v2-relative").render(
        INSTRUCTION, RESPONSE, response_b=RESPONSE_B, reference=reference, rubric=RUBRIC)
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith("You are a fair judge assistant assigned")
    assert messages[1] == {"role": "user", "content": expected}


def test_autoj_single_and_pairwise():
    single = fill(block_starting("Write critiques"), prompt=INSTRUCTION, response=RESPONSE)
    assert "grade the response:\n  \n[BEGIN DATA]" in single  # the second line is two spaces
    assert get_protocol("autoj-single").render(INSTRUCTION, RESPONSE) == [{"role": "user", "content": single}]
    pair = fill(block_starting("You are assessing two"), prompt=INSTRUCTION, response=RESPONSE, response_another=RESPONSE_B)
    assert get_protocol("autoj-pairwise").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B) == [
        {"role": "user", "content": pair}]


def test_autoj_chinese():
    zh = block_starting("为上传的")
    single_zh, pair_zh = zh[: zh.index("你将要评价")].rstrip("\n"), zh[zh.index("你将要评价"):]
    assert get_protocol("autoj-single-zh").render(INSTRUCTION, RESPONSE)[0]["content"] == fill(
        single_zh, prompt=INSTRUCTION, response=RESPONSE)
    assert get_protocol("autoj-pairwise-zh").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B)[0]["content"] == fill(
        pair_zh, prompt=INSTRUCTION, response=RESPONSE, response_another=RESPONSE_B)


def test_kobench():
    single = fill(one_line("[지시]\\n 공정한"), question=INSTRUCTION, answer=RESPONSE)
    assert get_protocol("kobench-single").render(INSTRUCTION, RESPONSE) == [{"role": "user", "content": single}]
    assert get_protocol("kobench-single", message_split="empty-system").render(INSTRUCTION, RESPONSE) == [
        {"role": "system", "content": ""}, {"role": "user", "content": single}]
    math = fill(one_line("[지시]\\n공정한"), question=INSTRUCTION, answer=RESPONSE, ref_answer_1=REFERENCE)
    assert get_protocol("kobench-math").render(INSTRUCTION, RESPONSE, reference=REFERENCE) == [
        {"role": "user", "content": math}]


def test_mtbench_single_and_math():
    single = fill(one_line("[Instruction]\\nPlease act"), question=INSTRUCTION, answer=RESPONSE)
    assert get_protocol("mtbench-single").render(INSTRUCTION, RESPONSE) == [
        {"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": single}]
    # single-math-v1 as the sheet describes it: the evaluation sentence replaced, the reference block
    # before the assistant's answer.
    general = re.search(r"Your evaluation should consider factors.*?Be as objective as possible\.", single).group(0)
    sentence = re.search(r'"(Your evaluation should consider correctness.*?)"', SHEET.replace("\n", " ")).group(1)
    math = single.replace(general, sentence).replace(
        "[The Start of Assistant's Answer]",
        f"[The Start of Reference Answer]\n{REFERENCE}\n[The End of Reference Answer]\n\n[The Start of Assistant's Answer]")
    assert get_protocol("mtbench-math").render(INSTRUCTION, RESPONSE, reference=REFERENCE)[1]["content"] == math


def test_mtbench_pair():
    messages = get_protocol("mtbench-pair").render(INSTRUCTION, RESPONSE, response_b=RESPONSE_B)
    user = (f"[User Question]\n{INSTRUCTION}\n\n[The Start of Assistant A's Answer]\n{RESPONSE}\n[The End of Assistant A's "
            f"Answer]\n\n[The Start of Assistant B's Answer]\n{RESPONSE_B}\n[The End of Assistant B's Answer]")
    assert messages[1] == {"role": "user", "content": user}
    assert messages[0]["content"].endswith(
        'output your final verdict by strictly following this format: "[[A]]" if assistant A is better, '
        '"[[B]]" if assistant B is better, and "[[C]]" for a tie.')


def test_every_protocol_is_covered_and_named_as_the_contract_says():
    assert list_protocols() == [
        "prometheus-v1", "prometheus-v2", "prometheus-v2-relative", "autoj-single", "autoj-pairwise",
        "autoj-single-zh", "autoj-pairwise-zh", "kobench-single", "kobench-math", "mtbench-single",
        "mtbench-math", "mtbench-pair", "listwise",
        "genrm", "genrm-prompted", "genrm-reference", "general-verifier", "multisub-rm", "skywork-critic",
        "selene-absolute", "selene-pairwise", "rm-r1", "rm-r1-reasoning", "judgelrm", "rewardbench-pair",
        "rewardbench-ratings", "rewardbench-ratings-ties", "rewardbench-four"]
    ranges = {name: get_protocol(name).score_range for name in list_protocols()}
    assert ranges["prometheus-v1"] == (1, 5) and ranges["autoj-single"] == (1, 10)
    assert ranges["kobench-single"] == (0, 10) and ranges["mtbench-single"] == (1, 10)
    assert ranges["mtbench-pair"] is None and ranges["autoj-pairwise"] is None
    assert ranges["listwise"] == (1, 10)  # our group prompt: one score 1-10 per shown id
    assert ranges["genrm"] == (0, 1) and ranges["selene-absolute"] == (1, 5) and ranges["skywork-critic"] is None


def test_seed_001_korean_rubric_renders_as_the_card_writes_it():
    card_math_rubric = (
        "[언어 모델의 답변이 수학적으로 정확하고, 풀이 과정이 명확하며, 효율적인 해법을 제시하는가?]\n"
        "Score 1: 답변이 수학적으로 완전히 부정확하고, 풀이 과정이 없거나 이해할 수 없으며, 비효율적인 접근법을 사용한다.\n"
        "Score 2: 답변에 일부 정확한 수학적 요소가 있지만 중요한 오류가 있고, 풀이 과정이 불완전하며, 비효율적인 해법을 제시한다.\n"
        "Score 3: 답변이 대체로 수학적으로 정확하지만 일부 오류가 있고, 풀이 과정이 어느 정도 명확하며, 기본적인 효율성을 갖춘 해법을 제시한다.\n"
        "Score 4: 답변이 수학적으로 정확하고, 풀이 과정이 명확하며, 효율적인 해법을 제시한다. 사소한 개선의 여지가 있을 수 있다.\n"
        "Score 5: 답변이 수학적으로 완벽하게 정확하고, 풀이 과정이 매우 명확하며, 가장 효율적이고 창의적인 해법을 제시한다."
    )
    assert get_rubric("ko-math").render() == card_math_rubric
    assert get_rubric("수학(Math)") == get_rubric("ko-math")


def test_turns_after_the_last_user_turn_reach_the_judge():
    """A prompt ending with an assistant prefill (TRL's continue_final_message) or with a tool call and its result
    lost those turns: the judge graded a fragment, or never saw the tool output the completion contradicts."""
    from reward_judge.chat_format import ChatFormatter
    from reward_judge.rendering import RequestRenderer
    from reward_judge.rollout_text import prefill_text, prompt_text
    from reward_judge.rubric import resolve_rubric

    prefill = [{"role": "user", "content": "Is 91 prime?"}, {"role": "assistant", "content": "No. 91 = 7 x 13, so"}]
    assert prompt_text(prefill) == "Is 91 prime?" and prefill_text(prefill) == "No. 91 = 7 x 13, so"
    tool = [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "Calling the weather tool."}, {"role": "tool", "content": "31 C, storm"}]
    assert prompt_text(tool) == ("System: Use tools.\n\nWeather in Paris?\n\nAssistant: Calling the weather tool."
                                 "\n\nTool: 31 C, storm")
    assert prefill_text(tool) == "" and prefill_text("Is 91 prime?") == ""
    renderer = RequestRenderer(get_protocol("prometheus-v2"), None, resolve_rubric("helpfulness"), ChatFormatter("raw"),
                               tokenizer=None, limit=None, truncation="head_tail")
    request = renderer.render(prefill, " it is not prime.")
    assert request.input.untrusted_text()[:2] == ["Is 91 prime?", "No. 91 = 7 x 13, so it is not prime."]
    with pytest.raises(TypeError, match=r"prompts\[0\]\[0\] must be a chat message"):
        renderer.render(["not a message", {"role": "user", "content": "Hi"}], "Hello", index=0)
