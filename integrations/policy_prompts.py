"""The conversation behind a policy's chat-templated prompt, and its response without trailing markup.

Frameworks that generate with vLLM hand a reward function text written with the *policy's* chat
template: OpenRLHF sends ``prompts`` = ``apply_chat_template(..., add_generation_prompt=True)`` and
``query`` = prompt + response decoded with ``skip_special_tokens=False``, so the response ends with the
policy's end-of-turn text (``<|im_end|>``, ``<|eot_id|>``, ``</s>``, ``<end_of_turn>``). A judge must
read neither: it gets the conversation as chat messages (formatted for it like every other
conversation: the last user turn is the instruction, earlier turns are context) and the response
text alone.

Known template families (ChatML, Llama 3, Llama 2 / Mistral ``[INST]``, Gemma) are recognised by the
generation header that ends a prompt (``<|im_start|>assistant\\n``...), never by markers inside it.
With the policy's tokenizer (`PolicyPromptReader.from_tokenizer`), its chat template is rendered on probe
conversations to pick the family, check that parsing gives the probe back, and learn what the
template adds by itself (a default system message such as SmolLM2's or Qwen's, Llama 3.1's
knowledge-date header), which is then left out.

This module removes only the policy's own framing. Special-token text *inside* untrusted fields is
made harmless where the judge input is built, for every path.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

logger = logging.getLogger(__name__)

Message = dict[str, str]


class TemplateMismatch(ValueError):
    """A prompt is not written in the chat template family it was read with."""


@dataclass(frozen=True)
class TemplateFamily:
    """One family of chat templates: how its turns and its generation header look.

    Example:
        >>> FAMILIES["chatml"].parse("<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n")
        [{'role': 'user', 'content': 'Hi'}]
    """

    name: str
    title: str
    generation: str
    """Regular expression of the header a prompt ends with when the model is to answer."""
    end_tokens: tuple[str, ...]
    """End-of-turn, end-of-text and padding texts this family's models emit after an answer."""
    turn: str = ""
    """Regular expression of one complete turn, with groups ``role`` and ``content``."""
    leading: tuple[str, ...] = ()
    """Texts a rendered conversation may start with (BOS)."""
    roles: tuple[tuple[str, str], ...] = ()
    """Template role -> chat role, where they differ (Gemma's ``model``)."""

    def ends_prompt(self, prompt: str) -> bool:
        """Whether ``prompt`` ends with this family's generation header (plus an optional reasoning prefill)."""
        return self._generation_at_end(prompt) is not None

    def _generation_at_end(self, text: str) -> Optional[re.Match[str]]:
        return re.search(f"(?:{self.generation})(?:{_PREFILL})?\\s*\\Z", text, re.DOTALL)

    def parse(self, prompt: str, require_generation: bool = True) -> list[Message]:
        """The chat messages ``prompt`` was rendered from (system and earlier turns included)."""
        end = self._generation_at_end(prompt)
        if end is None and require_generation:
            raise TemplateMismatch(f"the prompt does not end with a {self.title} generation header: {prompt[-80:]!r}")
        # [INST] templates have no header of their own: the closing [/INST] belongs to the last user turn.
        cut = len(prompt) if end is None or self.name == "inst" else end.start()
        body = _strip_leading(prompt[:cut], self.leading)
        if self.name == "inst":
            return _parse_inst(body)
        roles = dict(self.roles)
        messages, position = [], 0
        for match in re.finditer(self.turn, body, re.DOTALL):
            gap = body[position: match.start()]
            if gap.strip():
                raise TemplateMismatch(f"text outside any {self.title} turn: {gap[:80]!r}")
            role = match.group("role").strip()
            messages.append({"role": roles.get(role, role), "content": match.group("content")})
            position = match.end()
        if body[position:].strip():
            raise TemplateMismatch(f"text outside any {self.title} turn: {body[position:][:80]!r}")
        return messages

    def response_start(self, query: str, prompt: Optional[str]) -> Optional[int]:
        """Where the response begins in ``query`` (prompt + response) when the prompt is not a plain prefix.

        The prompt part of ``query`` holds as many generation headers as the prompt (they are
        template text); the response begins after that many, so a header the policy wrote itself
        is left in the response.
        """
        headers = list(re.finditer(self.generation, query, re.DOTALL))
        count = len(re.findall(self.generation, prompt, re.DOTALL)) if prompt is not None else len(headers)
        if count == 0 or len(headers) < count:
            return None
        start = headers[count - 1].end()
        prefill = re.match(_PREFILL, query[start:], re.DOTALL)
        if prompt is not None and prefill and prefill.group(0) and prompt.rstrip().endswith(prefill.group(0).rstrip()):
            start += prefill.end()
        return start


# An empty reasoning block or an opened one that some templates write after the generation header.
_PREFILL = r"<think>\s*(?:</think>\s*)?"

FAMILIES: dict[str, TemplateFamily] = {
    family.name: family
    for family in (
        TemplateFamily(
            name="chatml", title="ChatML", generation=r"<\|im_start\|>assistant\n",
            turn=r"<\|im_start\|>(?P<role>[^\n<]+)\n(?P<content>.*?)<\|im_end\|>\s*",
            end_tokens=("<|im_end|>", "<|endoftext|>", "<|end_of_text|>"),
        ),
        TemplateFamily(
            name="llama3", title="Llama 3", generation=r"<\|start_header_id\|>assistant<\|end_header_id\|>\n\n",
            turn=r"<\|start_header_id\|>(?P<role>[^<]+?)<\|end_header_id\|>\n\n(?P<content>.*?)<\|eot_id\|>\s*",
            leading=("<|begin_of_text|>",),
            end_tokens=("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|finetune_right_pad_id|>"),
        ),
        TemplateFamily(
            name="gemma", title="Gemma", generation=r"<start_of_turn>model\n",
            turn=r"<start_of_turn>(?P<role>[^\n<]+)\n(?P<content>.*?)<end_of_turn>\s*",
            leading=("<bos>",), roles=(("model", "assistant"),),
            end_tokens=("<end_of_turn>", "<eos>", "<pad>"),
        ),
        TemplateFamily(
            name="inst", title="Llama 2 / Mistral [INST]", generation=r"\[/INST\]",
            leading=("<s>",), end_tokens=("</s>", "<pad>", "<unk>"),
        ),
    )
}
TEMPLATE_NAMES = {"chatml": "chatml", "llama3": "llama3", "llama-3": "llama3", "gemma": "gemma", "inst": "inst",
                  "llama2": "inst", "llama-2": "inst", "mistral": "inst"}
"""Names accepted for ``template`` (``--policy-template``), besides ``auto`` and ``none``."""

# Stripped from the end of a response whatever the family: end and padding texts of the common families.
COMMON_END_TOKENS: tuple[str, ...] = tuple(dict.fromkeys(t for f in FAMILIES.values() for t in f.end_tokens))

_INST_SPLIT = re.compile(r"(\[INST\]|\[/INST\]|\[SYSTEM_PROMPT\].*?\[/SYSTEM_PROMPT\])", re.DOTALL)
_LLAMA2_SYSTEM = re.compile(r"\s*<<SYS>>\n(?P<system>.*?)\n<</SYS>>\n\n(?P<rest>.*)\Z", re.DOTALL)


def _strip_leading(text: str, leading: Sequence[str]) -> str:
    changed = True
    while changed:
        changed = False
        stripped = text.lstrip()
        for token in leading:
            if stripped.startswith(token):
                text, changed = stripped[len(token):], True
    return text


def _parse_inst(body: str) -> list[Message]:
    """``[INST] user [/INST] answer</s>[INST] user [/INST]`` with Llama 2's ``<<SYS>>`` or Mistral's ``[SYSTEM_PROMPT]``."""
    messages: list[Message] = []
    expecting = "user"
    pending: Optional[str] = None
    for piece in _INST_SPLIT.split(body + "[INST]"):
        if piece.startswith("[SYSTEM_PROMPT]"):
            messages.append({"role": "system", "content": piece[len("[SYSTEM_PROMPT]"):-len("[/SYSTEM_PROMPT]")].strip()})
        elif piece == "[INST]":
            if expecting == "instruction_end":
                raise TemplateMismatch("an [INST] block opens inside another one")
            expecting = "instruction_end"
        elif piece == "[/INST]":
            if expecting != "instruction_end" or pending is None:
                raise TemplateMismatch("[/INST] without its [INST]")
            system = _LLAMA2_SYSTEM.match(pending)
            if system and not messages:
                messages.append({"role": "system", "content": system.group("system").strip()})
                pending = system.group("rest")
            messages.append({"role": "user", "content": pending.strip()})
            pending, expecting = None, "answer"
        else:
            text = _strip_leading(piece, ("<s>",))
            if expecting == "instruction_end":
                pending = piece
            elif expecting == "answer":
                answer = strip_trailing_markup(text, ("</s>", "<s>"))[0].strip()
                if answer:
                    messages.append({"role": "assistant", "content": answer})
                expecting = "user"
            elif text.strip():
                raise TemplateMismatch(f"text outside any [INST] turn: {text[:80]!r}")
    return messages


def detect_family(prompt: str) -> Optional[TemplateFamily]:
    """The family whose generation header ends ``prompt``, or ``None``.

    Example:
        >>> detect_family("<start_of_turn>user\\nHi<end_of_turn>\\n<start_of_turn>model\\n").name
        'gemma'
        >>> detect_family("Plain text prompt") is None
        True
    """
    for family in FAMILIES.values():
        if family.ends_prompt(prompt):
            return family
    return None


def strip_trailing_markup(text: str, tokens: Sequence[str] = COMMON_END_TOKENS) -> tuple[str, int]:
    """``text`` without the end-of-turn / padding ``tokens`` (and whitespace) at its end; and how many were cut.

    Example:
        >>> strip_trailing_markup("Paris.<|im_end|>\\n<|endoftext|><|endoftext|>")
        ('Paris.', 3)
    """
    removed = 0
    while True:
        stripped = text.rstrip()
        for token in tokens:
            if token and stripped.endswith(token):
                text, removed = stripped[: -len(token)], removed + 1
                break
        else:
            return (stripped if removed else text), removed


@dataclass(frozen=True)
class TemplateQuirks:
    """What a tokenizer's chat template writes by itself, learnt by rendering probe conversations.

    Example:
        >>> quirks = TemplateQuirks(default_system="You are a helpful assistant.")
        >>> quirks.clean([{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hi"}])
        [{'role': 'user', 'content': 'Hi'}]
    """

    default_system: Optional[str] = None
    """The system message the template inserts when the conversation has none."""
    system_prefix: str = ""
    system_suffix: str = ""
    """Text the template wraps around a given system message (Llama 3.1: its knowledge-date lines)."""

    def clean(self, messages: list[Message]) -> list[Message]:
        out = []
        for i, message in enumerate(messages):
            if message["role"] == "system":
                if i == 0 and self.default_system is not None and message["content"] == self.default_system:
                    continue  # the policy's template wrote it, not the dataset
                content = message["content"]
                if self.system_prefix and content.startswith(self.system_prefix):
                    content = content[len(self.system_prefix):]
                if self.system_suffix and content.endswith(self.system_suffix):
                    content = content[: -len(self.system_suffix)]
                message = {"role": "system", "content": content}
            out.append(message)
        return out


@dataclass
class PolicyTurn:
    """One rollout read back from a policy's text: what the judge gets, and how it was read.

    Example:
        >>> PolicyPromptReader("gemma").split("<start_of_turn>user\\nHi<end_of_turn>\\n<start_of_turn>model\\nHello<end_of_turn>")
        PolicyTurn(prompt=[{'role': 'user', 'content': 'Hi'}], completion='Hello', family='gemma', stripped=1)
    """

    prompt: Union[str, list[Message]]
    """Chat messages when the template was recognised, else the prompt text as it came."""
    completion: str
    family: Optional[str]
    """The template family the prompt was read with (``None``: not recognised, passed as it is)."""
    stripped: int = 0
    """End-of-turn / padding tokens cut from the end of the response."""


@dataclass
class PolicyPromptReader:
    """Reads rollouts written with a policy's chat template back into a conversation and a response.

    ``template``: ``"auto"`` (recognise the common families by the header a prompt ends with),
    ``"none"`` (pass prompts as they are; still strip the trailing markup), or one family:
    ``chatml``, ``llama3``, ``llama2`` / ``mistral`` (``[INST]``), ``gemma``.

    Example:
        >>> chat = PolicyPromptReader("auto")
        >>> prompt = "<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\n2+2?<|im_end|>\\n<|im_start|>assistant\\n"
        >>> turn = chat.split(prompt + "4<|im_end|>", prompt)
        >>> turn.prompt, turn.completion, turn.family
        ([{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '2+2?'}], '4', 'chatml')
    """

    template: str = "auto"
    end_tokens: tuple[str, ...] = ()
    """More texts to cut from the end of a response (the policy tokenizer's EOS and padding tokens)."""
    quirks: TemplateQuirks = field(default_factory=TemplateQuirks)
    source: str = ""
    """Where the template came from (a tokenizer path), for messages."""

    def __post_init__(self) -> None:
        if not isinstance(self.template, str) or (self.template not in ("auto", "none")
                                                  and self.template.lower() not in TEMPLATE_NAMES):
            raise ValueError(f"policy template must be 'auto', 'none' or one of {sorted(set(TEMPLATE_NAMES))}, "
                             f"got {self.template!r}")
        self.family: Optional[TemplateFamily] = (
            FAMILIES[TEMPLATE_NAMES[self.template.lower()]] if self.template not in ("auto", "none") else None)
        tokens = self.end_tokens + (self.family.end_tokens if self.family else COMMON_END_TOKENS)
        self._strip_tokens = tuple(dict.fromkeys(t for t in tokens if t))
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading
    def read_prompt(self, prompt: str) -> tuple[Union[str, list[Message]], Optional[TemplateFamily]]:
        """The conversation in ``prompt``, or the prompt itself when no family fits."""
        if self.template == "none":
            return prompt, None
        family = self.family or detect_family(prompt)
        if family is None:
            self._note("none", "found no known chat template (ChatML, Llama 3, [INST], Gemma) at the end of a "
                               "prompt; such prompts go to the judge as they are")
            return prompt, None
        try:
            messages = self.quirks.clean(family.parse(prompt, require_generation=self.family is None))
            if not any(m["role"] == "user" for m in messages):
                raise TemplateMismatch("the conversation has no user turn")
        except TemplateMismatch as exc:
            self._note(f"mismatch-{family.name}", f"a prompt could not be read as {family.title} ({exc}); "
                                                  "it goes to the judge as it is")
            return prompt, None
        self._note(family.name, f"reading policy prompts as {family.title}"
                                + (f" (the chat template of {self.source})" if self.source else
                                   " (detected)" if self.family is None else ""))
        return messages, family

    def split(self, query: str, prompt: Optional[str] = None) -> PolicyTurn:
        """Judge prompt and response of one OpenRLHF-style rollout (``query`` = prompt + response)."""
        if prompt is None:
            # Without the prompt, the query's last generation header is where the response begins.
            reader = self.family or _family_in(query)
            start = reader.response_start(query, None) if reader is not None and self.template != "none" else None
            if start is None:
                text, removed = self.completion(query)
                return PolicyTurn("", text, None, removed)
            judge_prompt, family = self.read_prompt(query[:start])
            text, removed = self.completion(query[start:])
            return PolicyTurn(judge_prompt, text, family.name if family else None, removed)
        judge_prompt, family = self.read_prompt(prompt)
        if query.startswith(prompt):
            response = query[len(prompt):]
        else:
            # decode(encode(prompt)) is not always the prompt (spaces around special tokens): find the header.
            reader = family or self.family or detect_family(prompt)
            start = reader.response_start(query, prompt) if reader is not None else None
            if start is None:
                self._note("no-prefix", "a query did not start with its prompt and no generation header was found "
                                        "in it; the whole query is judged as the response")
                response = query
            else:
                response = query[start:]
        text, removed = self.completion(response)
        return PolicyTurn(judge_prompt, text, family.name if family else None, removed)

    def completion(self, text: str) -> tuple[str, int]:
        """A response without the end-of-turn and padding texts at its end."""
        return strip_trailing_markup(text, self._strip_tokens)

    def _note(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        if key.startswith(("none", "mismatch", "no-prefix")):
            logger.warning(message)
        else:
            logger.info(message)

    # ----------------------------------------------------------- from a tokenizer
    @classmethod
    def from_tokenizer(cls, tokenizer: Any, template: str = "auto") -> "PolicyPromptReader":
        """A reader for the policy whose tokenizer (object, local folder or hub id) wrote the prompts.

        Its chat template is rendered on probe conversations: the family is the one that reads the
        probes back exactly (``template`` may name it), and what the template adds by itself is
        learnt. Its EOS and padding tokens join the texts cut from the end of responses.
        """
        source = tokenizer if isinstance(tokenizer, str) else getattr(tokenizer, "name_or_path", "") or "tokenizer"
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            except (OSError, ValueError) as exc:
                raise ValueError(f"policy tokenizer {source!r} could not be loaded: {exc}") from exc
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"policy tokenizer {source!r} has no chat template; name the family with "
                             f"--policy-template instead")
        family, quirks = _probe(tokenizer, source, template)
        extra = tuple(t for t in (getattr(tokenizer, "eos_token", None), getattr(tokenizer, "pad_token", None)) if t)
        return cls(family.name, end_tokens=extra, quirks=quirks, source=str(source))


def _family_in(query: str) -> Optional[TemplateFamily]:
    """For a query sent without its prompt: the family whose generation header occurs in it."""
    for family in FAMILIES.values():
        if re.search(family.generation, query):
            return family
    return None


_SYSTEM, _USER, _ANSWER, _USER2 = "SYSTEM-7f3a", "USER-4b1c", "ANSWER-9d2e", "USER-2e8f"


def _render(tokenizer: Any, messages: list[Message]) -> Optional[str]:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - templates raise their own errors (e.g. Gemma refuses system messages)
        return None


def _probe(tokenizer: Any, source: Any, template: str) -> tuple[TemplateFamily, TemplateQuirks]:
    plain = [{"role": "user", "content": _USER}, {"role": "assistant", "content": _ANSWER},
             {"role": "user", "content": _USER2}]
    rendered = _render(tokenizer, plain)
    if rendered is None:
        raise ValueError(f"the chat template of policy tokenizer {source!r} cannot render a user/assistant/user "
                         f"conversation")
    candidates = ([FAMILIES[TEMPLATE_NAMES[template.lower()]]] if template not in ("auto", "none")
                  else [f for f in FAMILIES.values() if f.ends_prompt(rendered)])
    for family in candidates:
        try:
            parsed = family.parse(rendered)
        except TemplateMismatch:
            continue
        turns = [m for m in parsed if m["role"] != "system"]
        if [(m["role"], m["content"].strip()) for m in turns] != [(m["role"], m["content"]) for m in plain]:
            continue
        leading_system = [m["content"] for m in parsed[: len(parsed) - len(turns)] if m["role"] == "system"]
        default_system = leading_system[0] if leading_system else None
        prefix = suffix = ""
        with_system = _render(tokenizer, [{"role": "system", "content": _SYSTEM}, *plain])
        if with_system is not None:
            try:
                system = [m["content"] for m in family.parse(with_system) if m["role"] == "system"]
            except TemplateMismatch:
                system = []
            if len(system) == 1 and _SYSTEM in system[0]:
                prefix, _, suffix = system[0].partition(_SYSTEM)
        logger.info("policy tokenizer %s: chat template read as %s%s", source, family.title,
                    f"; its default system message is left out: {default_system[:60]!r}" if default_system else "")
        return family, TemplateQuirks(default_system, prefix, suffix)
    names = ", ".join(f.title for f in candidates) or "none of ChatML, Llama 3, [INST], Gemma"
    raise ValueError(f"the chat template of policy tokenizer {source!r} is not one this server reads back "
                     f"(tried {names}); rendered probe: {rendered[:200]!r}")
