"""Real tokenizers that write prompts the way policies of each chat family do.

Each is the embedded judge's real SmolLM2 tokenizer (a ChatML tokenizer) given a family's real chat
template and that family's control tokens as special tokens, so ``apply_chat_template`` renders the
family's exact text and ``decode(..., skip_special_tokens=False)`` gives it back as OpenRLHF's
client does. Templates: TRL's shipped copies (``trl/chat_templates``: Llama 3 / 3.1, Gemma / Gemma 3,
Qwen 2.5 / 3) and, for the ``[INST]`` family that TRL does not ship, the model cards' templates in
``tests/data/chat_templates``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "chat_templates"

# name -> (template file, special tokens, bos, eos)
FAMILIES: dict[str, tuple[str, list[str], str, str]] = {
    "smollm2": ("", [], "", ""),  # the tokenizer's own ChatML template, with its default system message
    "qwen2_5": ("trl:qwen2_5.jinja", [], "", ""),
    "qwen3": ("trl:qwen3.jinja", [], "", ""),
    "llama3": ("trl:llama3.jinja", ["<|start_header_id|>", "<|end_header_id|>", "<|end_of_text|>"],
               "<|begin_of_text|>", "<|eot_id|>"),
    "llama3_1": ("trl:llama3_1.jinja", ["<|start_header_id|>", "<|end_header_id|>", "<|end_of_text|>", "<|eom_id|>"],
                 "<|begin_of_text|>", "<|eot_id|>"),
    "gemma": ("trl:gemma.jinja", ["<start_of_turn>", "<end_of_turn>", "<pad>"], "<bos>", "<eos>"),
    "gemma3": ("trl:gemma3.jinja", ["<start_of_turn>", "<end_of_turn>", "<pad>"], "<bos>", "<eos>"),
    "llama2": ("llama2_chat.jinja", [], "<s>", "</s>"),
    "mistral": ("mistral_instruct.jinja", [], "<s>", "</s>"),
    "mistral_small": ("mistral_small.jinja", [], "<s>", "</s>"),
}
END_OF_TURN = {"smollm2": "<|im_end|>", "qwen2_5": "<|im_end|>", "qwen3": "<|im_end|>", "llama3": "<|eot_id|>",
               "llama3_1": "<|eot_id|>", "gemma": "<end_of_turn>", "gemma3": "<end_of_turn>", "llama2": "</s>",
               "mistral": "</s>", "mistral_small": "</s>"}
# Families whose template refuses a system message.
NO_SYSTEM = {"gemma", "mistral"}


def _template(spec: str) -> str:
    if spec.startswith("trl:"):
        import trl

        return (Path(trl.__file__).parent / "chat_templates" / spec[4:]).read_text(encoding="utf-8")
    return (DATA / spec).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def policy_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    from reward_judge.embedded import embedded_judge_path

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_judge_path()[0]))
    template, specials, bos, eos = FAMILIES[name]
    if template:
        tokens: dict[str, Any] = {"additional_special_tokens": specials} if specials else {}
        if bos:
            tokens["bos_token"] = bos
        if eos:
            tokens["eos_token"] = eos
        tokenizer.add_special_tokens(tokens)
        tokenizer.chat_template = _template(template)
    return tokenizer


def openrlhf_rollout(name: str, messages: list[dict[str, str]], response: str) -> tuple[str, str]:
    """(prompt, query) as OpenRLHF's single-turn executor builds them: the prompt is chat-templated, the
    query is decode(prompt ids + response ids) where the response ends with the end-of-turn token the
    engine stopped on (vLLM keeps it in the output token ids)."""
    tokenizer = policy_tokenizer(name)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN[name])
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [end_id]
    return prompt, tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)
