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

Every reader here runs in linear time in the length of its text (markers are found with ``str.find``
from where the last one ended, never by a lazy pattern retried at every position), because the text is
the policy's: 8000 unclosed turns or a megabyte of trailing end tokens must cost milliseconds.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
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
    turn_start: str = ""
    """What opens a turn; the role follows it, up to ``role_end``, then the content up to ``turn_end``."""
    role_end: str = ""
    turn_end: str = ""
    leading: tuple[str, ...] = ()
    """Texts a rendered conversation may start with (BOS)."""
    roles: tuple[tuple[str, str], ...] = ()
    """Template role -> chat role, where they differ (Gemma's ``model``)."""

    def ends_prompt(self, prompt: str) -> bool:
        """Whether ``prompt`` ends with this family's generation header (plus an optional reasoning prefill)."""
        return self._generation_at_end(prompt) is not None

    def _generation_at_end(self, text: str) -> Optional[int]:
        """Where the generation header that ends ``text`` starts, or ``None``.

        Only the text's tail is searched: the header and a reasoning prefill are short, and whatever
        whitespace follows them is skipped once, so a long prompt costs one pass.
        """
        core = len(text.rstrip())
        offset = max(0, core - _TAIL)
        match = re.search(f"(?:{self.generation})(?:{_PREFILL})?\\s*\\Z", text[offset:], re.DOTALL)
        return None if match is None else offset + match.start()

    def parse(self, prompt: str, require_generation: bool = True) -> list[Message]:
        """The chat messages ``prompt`` was rendered from (system and earlier turns included)."""
        end = self._generation_at_end(prompt)
        if end is None and require_generation:
            raise TemplateMismatch(f"the prompt does not end with a {self.title} generation header: {prompt[-80:]!r}")
        # [INST] templates have no header of their own: the closing [/INST] belongs to the last user turn.
        cut = len(prompt) if end is None or self.name == "inst" else end
        body = _strip_leading(prompt[:cut], self.leading)
        if self.name == "inst":
            return _parse_inst(body)
        roles = dict(self.roles)
        messages: list[Message] = []
        position = _SPACE.match(body).end()
        while position < len(body):
            if not body.startswith(self.turn_start, position):
                raise TemplateMismatch(f"text outside any {self.title} turn: {body[position:position + 80]!r}")
            role_at = position + len(self.turn_start)
            role_end = body.find(self.role_end, role_at)
            role = body[role_at:role_end] if role_end >= 0 else ""
            if role_end < 0 or not role.strip() or "<" in role:
                raise TemplateMismatch(f"a {self.title} turn without a role: {body[position:position + 80]!r}")
            content_at = role_end + len(self.role_end)
            closing = body.find(self.turn_end, content_at)
            if closing < 0:
                raise TemplateMismatch(f"a {self.title} turn that is never closed: {body[position:position + 80]!r}")
            role = role.strip()
            messages.append({"role": roles.get(role, role), "content": body[content_at:closing]})
            position = _SPACE.match(body, closing + len(self.turn_end)).end()
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
        prefill = _PREFILL_AT.match(query, start)
        if prompt is not None and prefill and prefill.group(0) and prompt.rstrip().endswith(prefill.group(0).rstrip()):
            start = prefill.end()
        return start


# An empty reasoning block or an opened one that some templates write after the generation header.
_PREFILL = r"<think>\s*(?:</think>\s*)?"
_PREFILL_AT = re.compile(_PREFILL, re.DOTALL)
_SPACE = re.compile(r"\s*")
#: Characters before a prompt's trailing whitespace where its generation header (and prefill) is looked for.
_TAIL = 512

FAMILIES: dict[str, TemplateFamily] = {
    family.name: family
    for family in (
        TemplateFamily(
            name="chatml", title="ChatML", generation=r"<\|im_start\|>assistant\n",
            turn_start="<|im_start|>", role_end="\n", turn_end="<|im_end|>",
            end_tokens=("<|im_end|>", "<|endoftext|>", "<|end_of_text|>"),
        ),
        TemplateFamily(
            name="llama3", title="Llama 3", generation=r"<\|start_header_id\|>assistant<\|end_header_id\|>\n\n",
            turn_start="<|start_header_id|>", role_end="<|end_header_id|>\n\n", turn_end="<|eot_id|>",
            leading=("<|begin_of_text|>",),
            end_tokens=("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|finetune_right_pad_id|>"),
        ),
        TemplateFamily(
            name="gemma", title="Gemma", generation=r"<start_of_turn>model\n",
            turn_start="<start_of_turn>", role_end="\n", turn_end="<end_of_turn>",
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

_INST_MARK = re.compile(r"\[INST\]|\[/INST\]|\[SYSTEM_PROMPT\]")
_LLAMA2_SYSTEM = re.compile(r"\s*<<SYS>>\n(?P<system>.*?)\n<</SYS>>\n\n(?P<rest>.*)\Z", re.DOTALL)


def _strip_leading(text: str, leading: Sequence[str]) -> str:
    """``text`` without the ``leading`` texts (and the whitespace around them) it starts with, in one pass."""
    tokens = [t for t in leading if t]
    if not tokens:
        return text
    one = "|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True))
    match = re.match(f"(?:\\s*(?:{one}))+\\s*", text)
    return text[match.end():] if match else text


def _parse_inst(body: str) -> list[Message]:
    """``[INST] user [/INST] answer</s>[INST] user [/INST]`` with Llama 2's ``<<SYS>>`` or Mistral's ``[SYSTEM_PROMPT]``."""
    messages: list[Message] = []
    expecting = "user"
    pending: Optional[str] = None
    for piece in _inst_pieces(body + "[INST]"):
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


def _inst_pieces(body: str) -> list[str]:
    """``body`` cut at ``[INST]`` and ``[/INST]`` (kept as pieces) and around whole ``[SYSTEM_PROMPT]...`` blocks."""
    pieces: list[str] = []
    position = 0
    while True:
        mark = _INST_MARK.search(body, position)
        if mark is None:
            pieces.append(body[position:])
            return pieces
        pieces.append(body[position:mark.start()])
        if mark.group(0) == "[SYSTEM_PROMPT]":
            closing = body.find("[/SYSTEM_PROMPT]", mark.end())
            if closing < 0:
                raise TemplateMismatch("a [SYSTEM_PROMPT] block that is never closed")
            position = closing + len("[/SYSTEM_PROMPT]")
            pieces.append(body[mark.start():position])
        else:
            pieces.append(mark.group(0))
            position = mark.end()


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

    One pass of one pattern over the reversed text, whatever the number of tokens (a response may end
    with a megabyte of them).

    Example:
        >>> strip_trailing_markup("Paris.<|im_end|>\\n<|endoftext|><|endoftext|>")
        ('Paris.', 3)
    """
    run, token = _reversed_run(tuple(t for t in tokens if t))
    if run is None:
        return text, 0
    backwards = text[::-1]
    end = run.match(backwards).end()
    removed = len(token.findall(backwards, 0, end))
    if not removed:
        return text, 0
    return text[: len(text) - end], removed


@lru_cache(maxsize=64)
def _reversed_run(tokens: tuple[str, ...]) -> tuple[Optional["re.Pattern[str]"], Optional["re.Pattern[str]"]]:
    """(a run of whitespace and reversed ``tokens``, one reversed token): the patterns `strip_trailing_markup` reads."""
    if not tokens:
        return None, None
    one = "|".join(re.escape(t[::-1]) for t in sorted(set(tokens), key=len, reverse=True))
    return re.compile(f"(?:{one}|\\s)*"), re.compile(one)


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
        >>> prompt = "<start_of_turn>user\\nHi<end_of_turn>\\n<start_of_turn>model\\n"
        >>> PolicyPromptReader("gemma").split(prompt + "Hello<end_of_turn>", prompt)
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

    def split(self, query: str, prompt: str) -> PolicyTurn:
        """Judge prompt and response of one OpenRLHF-style rollout (``query`` = ``prompt`` + response).

        The prompt is required: where the response begins is read from it, never from chat markup in the
        query, which the response itself can write (a forged user turn, a second generation header).
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be the text the policy was prompted with, got {type(prompt).__name__}")
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
