"""Rendering: a rollout becomes a `JudgeRequest` (protocol, chat format and length policy applied).

This is the first stage of the scoring pipeline. For one rollout it picks the protocol (the reference
protocol when the row carries a reference answer), turns chat-style prompts and completions into the
instruction and response the judge expects (`reward_judge.rollout_text`), renders the protocol's
messages, applies the judge's chat template or legacy wrapper, and cuts over-long responses by the
length policy (`reward_judge.truncation`: every response of the input, each to a shared budget, counted
as the backend counts). It also records which spans of the final judge input came from the rollout or
the dataset (instruction, each response, reference, a per-row rubric): those are untrusted and are
tokenised as plain text (`reward_judge.judge_input`). The text around them (a listwise group's
``[Response k]`` headers included) is the protocol's own.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from .chat_format import ChatFormatter
from .rollout_text import completion_text, conversation
from .judge_input import JudgeInput, Message, Span, encode
from .protocols import JudgeProtocol
from .rubric import Rubric, RubricLike, resolve_rubric
from .textsafe import tokenizable
from .truncation import InputTooLong, fit_responses

logger = logging.getLogger(__name__)

# Private-use characters: they mark where an untrusted field goes while the templates are applied.
_MARK = re.compile("\ue000(\\d+)\ue001")


def _marker(k: int) -> str:
    return f"\ue000{k}\ue001"


#: Message sentinels are numbered from here, apart from the fields' markers.
_SENTINEL_BASE = 1_000_000


class UnlocatedFields(ValueError):
    """The chat template changed a message so that the untrusted text in it cannot be located exactly."""


@dataclass(frozen=True)
class JudgeRequest:
    """One rollout ready for the judge: its protocol, the exact judge input, and what rendering did to it.

    ``truncated`` counts response tokens cut by the length policy; ``error`` is set (and nothing is sent
    to the judge) when the input cannot be judged, e.g. too long under ``truncation="fail"``.

    Example:
        >>> request = rm.renderer.render("What is 2+2?", "4")      # doctest: +SKIP
        >>> request.protocol.name, request.input.untrusted_text()   # doctest: +SKIP
        ('prometheus-v2', ['What is 2+2?', '4'])
    """

    protocol: JudgeProtocol
    input: JudgeInput
    truncated: int = 0
    error: Optional[str] = None
    #: Whether rollout text had to be changed to be tokenisable (lone surrogates became U+FFFD).
    sanitized: bool = False

    @property
    def dedup_key(self) -> str:
        """Requests with equal keys get the same verdict (the same protocol, every field alike, the same judge input)."""
        return f"{self.protocol.name}\x00{self.protocol.fingerprint}\x00{self.input.key}"


class RequestRenderer:
    """Builds `JudgeRequest`s for one judge: protocol(s), default rubric, chat format, tokenizer and length limit.

    ``count`` is the backend's count of the tokens its model reads for an input
    (`JudgeBackend.count_input_tokens`); the length limit is checked, and cuts are planned, with it alone.
    Default: the in-process encoding with ``tokenizer``.

    Example:
        >>> from reward_judge import get_protocol
        >>> renderer = RequestRenderer(get_protocol("prometheus-v2"), None, "helpfulness", ChatFormatter("mistral"),
        ...                            tokenizer=None, limit=None, truncation="head_tail")
        >>> renderer.render("What is 2+2?", "4").input.text.startswith("[INST] You are a fair judge")
        True
    """

    def __init__(self, protocol: JudgeProtocol, reference_protocol: Optional[JudgeProtocol], rubric: RubricLike,
                 formatter: ChatFormatter, *, tokenizer: Any, limit: Optional[int], truncation: str,
                 server_applies_template: bool = False, count: Optional[Callable[[JudgeInput], int]] = None):
        self.protocol = protocol
        self.reference_protocol = reference_protocol
        self.rubric = rubric
        self.formatter = formatter
        self.tokenizer = tokenizer
        self.limit = limit
        self.truncation = truncation
        self.server_applies_template = server_applies_template
        self.count = count or (lambda judge_input: len(encode(tokenizer, judge_input)))

    def with_rubric(self, rubric: RubricLike) -> "RequestRenderer":
        """This renderer with another default rubric: the reward model's own (trusted), not a dataset's."""
        other = copy.copy(self)
        other.rubric = rubric
        return other

    def protocol_for(self, reference: Optional[str]) -> JudgeProtocol:
        if reference is not None and self.reference_protocol is not None:
            return self.reference_protocol
        return self.protocol

    def render(self, prompt: Any, completion: Any, *, reference: Optional[str] = None, rubric: RubricLike = None,
               completion_b: Any = None, members: Optional[Sequence[Any]] = None,
               index: Optional[int] = None) -> JudgeRequest:
        """The request for one rollout; bad values raise with the argument (and row) named.

        ``members`` are the completions of a listwise group (then ``completion`` is ``None``): each one is an
        untrusted field of its own, shown under a header the protocol writes, and cut to its share of the limit.
        """
        where = "" if index is None else f"[{index}]"
        instruction, prefill = conversation(prompt, f"prompts{where}")  # a prefill starts every response
        if members is not None:
            if completion is not None or completion_b is not None:
                raise ValueError("render takes a listwise group's members or completion(s), not both")
            raw_responses = [prefill + completion_text(m, f"completions{where}[{k}]") for k, m in enumerate(members)]
        else:
            raw_responses = [prefill + completion_text(completion, f"completions{where}")]
            if completion_b is not None:
                raw_responses.append(prefill + completion_text(completion_b, f"completions_b{where}"))
        raw = [instruction, reference if isinstance(reference, str) else None, *raw_responses]
        clean = [None if text is None else tokenizable(text) for text in raw]
        sanitized = clean != raw
        instruction, responses = clean[0], clean[2:]
        if isinstance(reference, str):
            reference = clean[1]
        protocol = self.protocol_for(reference)
        row_rubric = rubric is not None and protocol.uses_rubric
        if row_rubric:  # a row's rubric is dataset text like the others: made tokenisable, and flagged
            rubric, rubric_changed = _tokenizable_rubric(rubric)
            sanitized = sanitized or rubric_changed
        use_rubric = (rubric if rubric is not None else self.rubric) if protocol.uses_rubric else None

        def build(texts: list[str]) -> JudgeInput:
            return self._judge_input(protocol, instruction, texts, reference, use_rubric, row_rubric)  # type: ignore[arg-type]

        try:
            judge_input = build(responses)  # type: ignore[arg-type]
        except UnlocatedFields as exc:  # never guessed: a guess could leave untrusted text outside its span
            return JudgeRequest(protocol, JudgeInput(""), error=str(exc), sanitized=sanitized)
        if not judge_input.text:  # nothing to judge (at most a BOS token)
            return JudgeRequest(protocol, judge_input, error="the judge input is empty: the protocol's template and "
                                                              "every field of this row are empty", sanitized=sanitized)
        limit, count = self.limit, self.count
        # A token covers at least one byte, and a text server's inert marks at most double the bytes: a short
        # input cannot be over the limit, so it is not counted.
        if limit is None or self.tokenizer is None or 2 * len(judge_input.text.encode("utf-8")) + 8 <= limit:
            return JudgeRequest(protocol, judge_input, sanitized=sanitized)
        try:
            if self.truncation == "fail":
                total = count(judge_input)
                if total > limit:
                    raise InputTooLong(f"the judge input has {total} tokens, over max_input_tokens={limit} "
                                       "(truncation='fail')")
                return JudgeRequest(protocol, judge_input, sanitized=sanitized)
            fitted, dropped = fit_responses(build, responses, limit, count, self.tokenizer,  # type: ignore[arg-type]
                                            present=protocol.present_response)
            return JudgeRequest(protocol, fitted, truncated=sum(dropped), sanitized=sanitized)
        except (InputTooLong, UnlocatedFields) as exc:
            return JudgeRequest(protocol, judge_input, error=str(exc), sanitized=sanitized)

    # ------------------------------------------------------------------ pieces
    def _judge_input(self, protocol: JudgeProtocol, instruction: str, responses: list[str], reference: Optional[str],
                     rubric: RubricLike, row_rubric: bool) -> JudgeInput:
        shown = [protocol.present_response(text) for text in responses]
        instruction = protocol.present_context(instruction)
        reference = None if reference is None else protocol.present_context(reference)
        response, response_b = protocol.response_fields(shown)
        messages = protocol.render(instruction, response, reference=reference, rubric=rubric, response_b=response_b)
        rubric_text = protocol.rubric_text(rubric)
        values = [instruction, *shown]
        marked_response, marked_b = protocol.response_fields([_marker(1 + k) for k in range(len(shown))])
        fields: list[Optional[str]] = [_marker(0), marked_response, None, rubric_text, marked_b]
        if reference is not None:
            fields[2] = _marker(len(values))
            values.append(reference)
        if row_rubric and rubric_text is not None:
            fields[3] = _marker(len(values))
            values.append(rubric_text)
        marked = protocol.render_fields(*fields)  # type: ignore[arg-type]
        message_spans = tuple(_substitute(m["content"], values)[1] for m in marked)
        if self.server_applies_template and self.formatter.chat_format == "template" and not self._has_template():
            import json

            text = json.dumps(messages, ensure_ascii=False)
            return JudgeInput(text, (), tuple(messages), False, message_spans)
        text = tokenizable(self.formatter.format(messages, self.tokenizer))
        marked_text = self.formatter.format(marked, self.tokenizer)
        substituted, spans = _substitute(marked_text, values)
        if substituted != text:  # the template changed a field (``| trim`` at a message's edge)
            spans = self._spans_by_message(messages, message_spans, text)
        return JudgeInput(text, spans, tuple(messages), self.formatter.add_special_tokens, message_spans)

    def _spans_by_message(self, messages: list[Message], message_spans: tuple[tuple[Span, ...], ...],
                          text: str) -> tuple[Span, ...]:
        """The untrusted spans in ``text`` when the chat template changed a message's content.

        The template is applied once more with one sentinel per message content, which gives its own text
        exactly; each content must then sit between those pieces as it is or stripped (``| trim``), and its
        fields' spans (exact within the content) move with it. Anything else raises `UnlocatedFields`.
        """
        sentinels = [_marker(_SENTINEL_BASE + k) for k in range(len(messages))]
        skeleton = self.formatter.format([{**m, "content": s} for m, s in zip(messages, sentinels)], self.tokenizer)
        parts = _MARK.split(skeleton)  # template text, message index, template text, ...
        pieces, order = parts[0::2], [int(k) - _SENTINEL_BASE for k in parts[1::2]]
        if order != list(range(len(messages))) or not text.startswith(pieces[0]):
            raise UnlocatedFields("the judge's chat template does not show each message's content once and in order, "
                                  "so the rollout's text cannot be told from the template's; use chat_format='raw' "
                                  "or a template that does")
        spans: list[Span] = []
        pos = len(pieces[0])
        for k, after in zip(order, pieces[1:], strict=True):
            content = messages[k]["content"]
            lead = len(content) - len(content.lstrip())
            for shown, offset in ((content, 0), (content.strip(), lead), (content.rstrip(), 0),
                                  (content.lstrip(), lead)):
                if text.startswith(shown, pos) and text.startswith(after, pos + len(shown)):
                    break
            else:
                raise UnlocatedFields(f"the judge's chat template changed message {k}'s content in a way reward-judge "
                                      "cannot follow (more than trimming it), so its untrusted text cannot be located")
            for start, end in message_spans[k]:
                start, end = max(start - offset, 0), min(end - offset, len(shown))
                if end > start:
                    spans.append((pos + start, pos + end))
            pos += len(shown) + len(after)
        if pos != len(text):
            raise UnlocatedFields("the judge's chat template text does not match its own render")
        return tuple(spans)

    def _has_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def _tokenizable_rubric(rubric: RubricLike) -> tuple[RubricLike, bool]:
    """A row's rubric with lone surrogates replaced (`tokenizable`), and whether that changed it.

    Left in, a surrogate made the judge text (sanitised as a whole) differ from the text the untrusted spans
    were marked in, so the rubric's span was guessed, and text it wrote could become control tokens.
    """
    resolved = resolve_rubric(rubric, files=False)
    if isinstance(resolved, str):
        clean: RubricLike = tokenizable(resolved)
    elif isinstance(resolved, Rubric):
        clean = Rubric(tokenizable(resolved.criteria), [tokenizable(d) for d in resolved.descriptions],
                       resolved.first_score)
    else:
        clean = resolved
    return clean, clean != resolved


def _substitute(marked: str, values: list[str]) -> tuple[str, tuple[Span, ...]]:
    """``marked`` with each marker replaced by its value, and the spans the values occupy."""
    pieces: list[str] = []
    spans: list[Span] = []
    at = length = 0
    for match in _MARK.finditer(marked):
        literal = marked[at:match.start()]
        pieces.append(literal)
        length += len(literal)
        value = values[int(match.group(1))]
        pieces.append(value)
        if value:
            spans.append((length, length + len(value)))
        length += len(value)
        at = match.end()
    pieces.append(marked[at:])
    return "".join(pieces), tuple(spans)
