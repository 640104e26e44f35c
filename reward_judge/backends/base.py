"""The one interface every judge backend implements, so the scorers never ask which backend they have."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional, Sequence

from ..judge_input import JudgeInput, encode

#: The backend writes the judge's answer (``generate``).
GENERATE = "generate"
#: The backend reads the judge's log-probabilities of given continuations (``answer_logprobs``).
ANSWER_LOGPROBS = "answer_logprobs"
#: The backend reads the answer distribution from its own generation (``generate_answer_logprobs`` in one pass:
#: no second prefill of the judge input and feedback). Backends without it compose ``generate`` + ``answer_logprobs``.
GENERATE_ANSWER_LOGPROBS = "generate_answer_logprobs"

#: ``cut(judge_input, generated_text)`` -> (judge input ending at the answer slot, feedback kept, marker written).
Cut = Callable[[JudgeInput, str], tuple[JudgeInput, str, bool]]


class BackendError(RuntimeError):
    """The judge backend failed to answer (a server error, a dead endpoint, an accelerator out of memory...).

    Backends raise it, or a subclass, or wrap what their engine raised in it: this is how the scoring
    pipeline tells "the judge could not answer these inputs" (isolated per input, counted, retried) from a
    bug in our own code (a ``TypeError``, a ``KeyError``), which must raise, never become a missing reward.

    Example:
        >>> is_backend_failure(BackendError("HTTP 503 from the judge server")), is_backend_failure(KeyError("x"))
        (True, False)
    """


class JudgeOutOfMemory(BackendError):
    """The judge ran out of accelerator memory on a single input (nothing smaller is left to try)."""


class LogprobsUnsupported(BackendError, ValueError):
    """The backend cannot give the answer log-probabilities a score-distribution mode needs.

    Reward models refuse such a mode at construction (`BackendOptions.capabilities`, `JudgeBackend.ensure`);
    a backend raises it itself when called for them anyway (a server that stops returning them), which is a
    backend failure of those inputs. It is a ``ValueError`` too, for callers that catch configuration errors.
    """


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error of the host or an accelerator (CUDA, MPS, XPU, a device runtime).

    Recognised without importing torch: its ``OutOfMemoryError`` classes, and the ``RuntimeError`` messages
    device runtimes raise (``"... out of memory ..."``).
    """
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def is_backend_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the judge could not answer (then it is isolated per input), not a bug (then it raises).

    Backend failures: `BackendError` and its subclasses (`LogprobsUnsupported`, the HTTP pool's
    ``EndpointError``...), out of memory (`is_out_of_memory`), timeouts and connection errors, and the
    transport errors of httpx (``httpx.HTTPError``) when a backend lets one through.
    """
    if isinstance(exc, (BackendError, TimeoutError, ConnectionError)) or is_out_of_memory(exc):
        return True
    httpx = sys.modules.get("httpx")  # only a backend that uses httpx can raise its errors, and then it is loaded
    return httpx is not None and isinstance(exc, httpx.HTTPError)


@dataclass(frozen=True)
class BackendContext:
    """What a backend loader is told about the judge, besides its own options: never the whole configuration.

    ``model`` is what to load or name: a hub id or a local folder (the embedded ``"default"`` judge is
    already resolved to its converted folder). ``name`` is the judge as the user named it.

    Example:
        >>> BackendContext(name="default", model="/cache/smollm2", identity="embedded:SmolLM2").tokenizer_source
        '/cache/smollm2'
    """

    name: str
    model: str
    #: Tokenizer id or path when it differs from ``model``.
    tokenizer: Optional[str] = None
    #: Hub revision of ``model``.
    revision: Optional[str] = None
    trust_remote_code: bool = False
    #: A string that identifies the judge weights when the caller knows it (the embedded judge's file digest).
    identity: Optional[str] = None

    @property
    def tokenizer_source(self) -> str:
        return self.tokenizer or self.model


def config_context_length(context: "BackendContext") -> Optional[int]:
    """The judge's own context length (``max_position_embeddings`` in its config), when the config can be read here."""
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(context.model, revision=context.revision,
                                            trust_remote_code=context.trust_remote_code)
    except Exception:  # a name only a server knows, or an engine that reads its own limit when it starts
        return None
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class BackendOptions:
    """Base of every backend's options dataclass: what a backend built with these options can do.

    A backend's options class declares its fields with `reward_judge.options.option` (help text, choices),
    so the documentation, the validation messages and the command line come from one list.
    """

    def capabilities(self) -> frozenset[str]:
        """What a backend built with these options can do, known before it is loaded (default: generate only)."""
        return frozenset({GENERATE})


@dataclass(frozen=True)
class AnswerSlot:
    """Where the judge's answer is read after its own feedback, and which answers are scored there.

    ``cut`` places the slot in the generated text (for a protocol: `reward_judge.scoring.answers.answer_context`
    with that protocol: the judge's own last marker, or the marker appended); ``candidates`` are the
    strings whose log-probabilities are read there, as in `JudgeBackend.answer_logprobs`.

    Example:
        >>> from functools import partial
        >>> from reward_judge import get_protocol
        >>> from reward_judge.scoring.answers import answer_context
        >>> slot = AnswerSlot(partial(answer_context, protocol=get_protocol("prometheus-v2")), ("1", "2", "3", "4", "5"))
        >>> slot.cut(JudgeInput("IN "), "Fine. [RESULT] 4")[0].text
        'IN Fine. [RESULT] '
    """

    cut: Cut
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class AnswerRead:
    """The judge's feedback on one input and its answer distribution at the slot after it.

    ``raw`` is the whole generated text, ``feedback`` the part kept before the slot, ``marker_written``
    whether the judge wrote the answer marker itself, ``logprobs`` one per candidate of the slot.
    """

    raw: str
    feedback: str
    marker_written: bool
    logprobs: list[float]


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings of one judge call.

    Example:
        >>> GenerationParams(max_new_tokens=64).do_sample
        False
    """

    max_new_tokens: int = 512
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: Optional[int] = None
    repetition_penalty: float = 1.0
    seed: int = 0

    def cache_fields(self) -> dict[str, Any]:
        """The settings that change a judge's answer (sampling knobs only matter when sampling)."""
        fields: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
                                  "repetition_penalty": self.repetition_penalty}
        if self.do_sample:
            fields.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, seed=self.seed)
        return fields


class JudgeBackend(ABC):
    """Runs a judge model on `JudgeInput`s.

    A backend declares what it can do in ``capabilities`` (`GENERATE`, `ANSWER_LOGPROBS`); the reward
    model refuses, at construction, a scoring mode its backend cannot serve. Calls return one answer
    per input, in input order, and raise when the call fails as a whole; the scoring pipeline turns
    that into per-input failures. A backend owns what it loads or opens and releases it in `close`
    (also as a context manager).

    Example:
        >>> with GenerativeRewardModel.from_pretrained("default").backend as backend:   # doctest: +SKIP
        ...     backend.generate([JudgeInput("Hi")], GenerationParams(max_new_tokens=4))
    """

    #: The registry name (``JudgeConfig.backend``).
    name: ClassVar[str] = ""
    #: A string that identifies the judge weights (model id or path, revision, adapter...).
    identity: str = ""
    #: The judge's tokenizer when the backend has one (chat templates, lengths, token ids).
    tokenizer: Any = None
    #: Tokens the judge can attend to (input plus answer), when known; the input-length policy uses it.
    context_length: Optional[int] = None
    #: True when the backend sends judge messages and the server applies the chat template itself.
    applies_chat_template: bool = False

    @property
    def capabilities(self) -> frozenset[str]:
        """What this backend can do; subclasses that read log-probabilities add `ANSWER_LOGPROBS`."""
        return frozenset({GENERATE})

    def count_input_tokens(self, judge_input: JudgeInput) -> int:
        """How many tokens the judge's model reads for ``judge_input``: the one count the input-length policy uses.

        The default counts what this process sends (`reward_judge.judge_input.encode`: untrusted special-token
        text tokenised as text). A backend whose server tokenises something else (a text prompt with inert
        special-token strings) counts that instead, so a cut planned here fits there.
        """
        return len(encode(self.tokenizer, judge_input))

    def ensure(self, capability: str, mode: str) -> None:
        """Check, where it can only be known at run time (a server), that ``capability`` really works.

        Raises ``ValueError`` naming the backend and ``mode`` when it does not. Default: nothing to check.
        """

    @abstractmethod
    def generate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        """Decode the judge's answer to each input."""

    def answer_logprobs(self, contexts: Sequence[JudgeInput], candidates: Sequence[str]) -> list[list[float]]:
        """Log-probability of each candidate written right after each context (teacher-forced, summed over tokens)."""
        raise LogprobsUnsupported(f"backend {self.describe()} cannot read answer log-probabilities "
                                  f"(its capabilities: {sorted(self.capabilities)})")

    def generate_answer_logprobs(self, inputs: Sequence[JudgeInput], params: GenerationParams,
                                 slots: Sequence[AnswerSlot]) -> list[AnswerRead]:
        """Let the judge write its feedback on each input, then read its answer distribution at ``slots[i]``.

        This default composes two calls: `generate`, then `answer_logprobs` on the judge input plus
        the feedback cut at the slot (a second prefill of both). Backends that declare
        `GENERATE_ANSWER_LOGPROBS` read the distribution from the generation itself, with the same result.
        """
        if len(slots) != len(inputs):
            raise ValueError(f"slots: {len(slots)} answer slots for {len(inputs)} inputs")
        raws = self.generate(inputs, params)
        if len(raws) != len(inputs):
            raise BackendError(f"backend returned {len(raws)} answers for {len(inputs)} inputs")
        return self.read_answers(inputs, raws, slots)

    def read_answers(self, inputs: Sequence[JudgeInput], raws: Sequence[str],
                     slots: Sequence[AnswerSlot]) -> list[AnswerRead]:
        """The answer distribution after each given feedback ``raws[i]``, by `answer_logprobs` on the cut context."""
        cuts = [slot.cut(judge_input, raw) for judge_input, raw, slot in zip(inputs, raws, slots, strict=True)]
        by_candidates: dict[tuple[str, ...], list[int]] = {}
        for k, slot in enumerate(slots):
            by_candidates.setdefault(tuple(slot.candidates), []).append(k)
        reads: list[Any] = [None] * len(inputs)
        for candidates, members in by_candidates.items():
            logprobs = self.answer_logprobs([cuts[k][0] for k in members], candidates)
            if len(logprobs) != len(members):
                raise BackendError(f"backend returned {len(logprobs)} distributions for {len(members)} inputs")
            for k, lps in zip(members, logprobs, strict=True):
                reads[k] = AnswerRead(raws[k], cuts[k][1], cuts[k][2], list(lps))
        return reads

    def describe(self) -> str:
        return f"{self.name or type(self).__name__} ({self.identity})" if self.identity else (self.name or type(self).__name__)

    def close(self) -> None:
        """Release what the backend owns (weights, connections, threads)."""

    def __enter__(self) -> "JudgeBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
