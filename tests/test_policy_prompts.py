"""Reading a policy's chat-templated prompt back into the conversation, and its response without markup.

Prompts and queries are made the way OpenRLHF's client makes them, with real tokenizers and the
families' real chat templates (tests/_policy_tokenizers.py); no model runs here.
"""

from __future__ import annotations

import logging

import pytest

from tests._policy_tokenizers import FAMILIES, NO_SYSTEM, openrlhf_rollout, policy_tokenizer
from reward_judge.integrations.policy_prompts import (
    COMMON_END_TOKENS, PolicyPromptReader, detect_family, strip_trailing_markup,
)

pytestmark = pytest.mark.model

CONVERSATION = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
]
EXPECTED_FAMILY = {"smollm2": "chatml", "qwen2_5": "chatml", "qwen3": "chatml", "llama3": "llama3",
                   "llama3_1": "llama3", "gemma": "gemma", "gemma3": "gemma", "llama2": "inst", "mistral": "inst",
                   "mistral_small": "inst"}


def _conversation(name: str) -> list[dict[str, str]]:
    return CONVERSATION[1:] if name in NO_SYSTEM else CONVERSATION


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_family_gives_back_the_conversation_and_the_bare_response(name):
    messages = _conversation(name)
    prompt, query = openrlhf_rollout(name, messages, "Rome.")
    assert query.startswith(prompt) and query != prompt + "Rome."  # the end-of-turn text is in the query
    tokenizer = policy_tokenizer(name)
    for chat in (PolicyPromptReader("auto"), PolicyPromptReader.from_tokenizer(tokenizer)):
        turn = chat.split(query, prompt)
        assert turn.family == EXPECTED_FAMILY[name]
        assert turn.completion == "Rome." and turn.stripped >= 1
        if name == "gemma3":  # Gemma 3 writes the system text into the first user turn: it stays there
            assert turn.prompt[0] == {"role": "user", "content": "Answer in one word.\n\nCapital of France?"}
            assert turn.prompt[1:] == messages[2:]
        elif name == "llama3_1" and chat.quirks.system_prefix == "":
            # without the tokenizer, the template's knowledge-date lines stay in the system message
            assert turn.prompt[0]["content"].endswith("Answer in one word.") and turn.prompt[1:] == messages[1:]
        else:
            assert turn.prompt == messages


@pytest.mark.parametrize("name", ["smollm2", "qwen2_5", "llama3_1"])
def test_the_tokenizer_tells_which_system_text_its_template_added(name):
    messages = [{"role": "user", "content": "Capital of Italy?"}]
    prompt, query = openrlhf_rollout(name, messages, "Rome.")
    detected = PolicyPromptReader("auto").split(query, prompt)
    assert detected.prompt[0]["role"] == "system"  # e.g. "You are a helpful AI assistant named SmolLM..."
    informed = PolicyPromptReader.from_tokenizer(policy_tokenizer(name)).split(query, prompt)
    assert informed.prompt == messages and informed.completion == "Rome."


def test_the_tokenizer_names_the_family_and_refuses_a_wrong_one():
    chat = PolicyPromptReader.from_tokenizer(policy_tokenizer("llama3"))
    assert chat.template == "llama3" and "<|eot_id|>" in chat.end_tokens
    with pytest.raises(ValueError, match="not one this server reads back"):
        PolicyPromptReader.from_tokenizer(policy_tokenizer("llama3"), template="gemma")
    with pytest.raises(ValueError, match="'phi'"):
        PolicyPromptReader("phi")


def test_unknown_prompts_pass_as_they_are_and_the_log_says_so(caplog):
    chat = PolicyPromptReader("auto")
    with caplog.at_level(logging.INFO, logger="reward_judge.integrations.policy_prompts"):
        turn = chat.split("Question: 2+2?\nAnswer: 4</s>", "Question: 2+2?\nAnswer:")
        chat.split("Q: 1+1?\nA: 2", "Q: 1+1?\nA:")
    assert turn.prompt == "Question: 2+2?\nAnswer:" and turn.completion == " 4" and turn.family is None
    notes = [r.getMessage() for r in caplog.records if "no known chat template" in r.getMessage()]
    assert len(notes) == 1  # said once, not per request
    prompt, query = openrlhf_rollout("llama3", _conversation("llama3"), "Rome.")
    with caplog.at_level(logging.INFO, logger="reward_judge.integrations.policy_prompts"):
        chat.split(query, prompt)
    assert any("reading policy prompts as Llama 3 (detected)" in r.getMessage() for r in caplog.records)


def test_a_forced_family_that_does_not_fit_passes_the_prompt_and_warns(caplog):
    prompt, query = openrlhf_rollout("gemma", _conversation("gemma"), "Rome.")
    with caplog.at_level(logging.WARNING, logger="reward_judge.integrations.policy_prompts"):
        turn = PolicyPromptReader("chatml").split(query, prompt)
    assert turn.prompt == prompt and turn.family is None
    assert any("could not be read as ChatML" in r.getMessage() for r in caplog.records)
    assert PolicyPromptReader("none").split(query, prompt).prompt == prompt


def test_a_query_that_does_not_start_with_its_prompt_is_split_at_the_generation_header():
    # SentencePiece tokenizers may decode "<s>[INST]" as "<s> [INST]": the prompt is no prefix any more.
    prompt = "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nCapital of Italy? [/INST]"
    query = "<s> [INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nCapital of Italy? [/INST] Rome. [/INST] ok</s>"
    turn = PolicyPromptReader("auto").split(query, prompt)
    assert turn.prompt == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Italy?"}]
    assert turn.completion == " Rome. [/INST] ok"  # a header the policy wrote stays in its response


def test_a_query_without_its_prompt_is_refused():
    # Without the prompt only the policy's own markup could say where the response begins, and the response can
    # write that markup: the reader needs the prompt (the server answers 422, see test_hardening.py).
    prompt, query = openrlhf_rollout("smollm2", CONVERSATION, "Rome.")
    with pytest.raises(TypeError, match="prompt must be the text the policy was prompted with"):
        PolicyPromptReader("auto").split(query, None)
    assert PolicyPromptReader("auto").split(query, prompt).completion == "Rome."


def test_only_trailing_markup_is_cut():
    assert strip_trailing_markup("Paris.<|im_end|>\n<|endoftext|><|endoftext|>") == ("Paris.", 3)
    assert strip_trailing_markup("a <|im_end|> b") == ("a <|im_end|> b", 0)  # inside the text: not ours to cut
    assert strip_trailing_markup("  keep leading space") == ("  keep leading space", 0)
    assert strip_trailing_markup("") == ("", 0)
    assert set(COMMON_END_TOKENS) >= {"<|im_end|>", "<|eot_id|>", "</s>", "<end_of_turn>", "<pad>"}


def test_detection_uses_the_end_of_the_prompt_not_markers_inside_it():
    # a ChatML prompt whose user text quotes Llama 2 markup is still ChatML
    prompt = "<|im_start|>user\nWhat does [INST] mean in '[INST] hi [/INST]'?<|im_end|>\n<|im_start|>assistant\n"
    assert detect_family(prompt).name == "chatml"
    turn = PolicyPromptReader("auto").split(prompt + "A marker.<|im_end|>", prompt)
    assert turn.prompt == [{"role": "user", "content": "What does [INST] mean in '[INST] hi [/INST]'?"}]
    assert detect_family("Tell me about <|im_start|> tokens.") is None


def test_serve_flags_build_the_reader_and_name_themselves_in_errors():
    from reward_judge.embedded import embedded_judge_path
    from reward_judge.integrations.cli import make_parser
    from reward_judge.integrations.cli.serve import _policy_reader

    folder = str(embedded_judge_path()[0])  # a real tokenizer folder: SmolLM2's ChatML template
    chat = _policy_reader(make_parser().parse_args(["serve", "--policy-tokenizer", folder]))
    assert chat.template == "chatml" and chat.source == folder
    assert chat.quirks.default_system.startswith("You are a helpful AI assistant named SmolLM")
    with pytest.raises(SystemExit, match="--policy-template: .*'phi'"):
        _policy_reader(make_parser().parse_args(["serve", "--policy-template", "phi"]))
    with pytest.raises(SystemExit, match="--policy-tokenizer: .*could not be loaded"):
        _policy_reader(make_parser().parse_args(["serve", "--policy-tokenizer", folder + "-missing"]))
