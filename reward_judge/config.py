"""`JudgeConfig`: the options of a generative reward model, with the options each stage owns nested inside.

Backend-agnostic options (protocol, scoring mode, decoding, rewarding, cache, input length) are fields
of `JudgeConfig`. What one stage owns lives in that stage's options class: a backend's (batch sizes and
dtypes for transformers, URLs and timeouts for an HTTP server) in ``config.backend_options``, the group
rewards' (pairing, aggregation) in ``config.group_options``. `JudgeConfig.build` takes every option as
one flat keyword list, which is how ``from_pretrained`` passes them, and routes each to its place.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from .backends.base import GenerationParams
from .backends.registry import backend_names, get_backend, reserve_option_names
from .chat_format import CHAT_FORMATS
from .groups.options import GroupOptions
from .normalize import NORMALIZATIONS
from .options import check_choice, check_declared_types, check_positive_int, check_positive_number, field_names, option
from .protocols import JudgeProtocol
from .rewarding import FALLBACK_MIN, FALLBACK_RAISE, RewardRule
from .rubric import RubricLike
from .scoring import CASCADE_MEASURES, MODES, AttemptPlan, CascadeScorer, Escalation, Scorer, scorer_for

TRUNCATION_POLICIES = ("head_tail", "fail")
DEFAULT_BACKEND = "transformers"


def parse_fallback(text: str) -> Union[None, float, str]:
    """``"none"`` -> None, ``"raise"``, ``"min"``, or a number (command-line form of `JudgeConfig.fallback`)."""
    if text.lower() in ("none", "null"):
        return None
    if text in (FALLBACK_RAISE, FALLBACK_MIN):
        return text
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"fallback must be 'none', 'min', 'raise' or a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"fallback must be a finite number, got {text!r}")
    return value


def parse_protocol(text: str) -> Union[str, JudgeProtocol]:
    """A protocol name, or a JSON object of `CustomProtocol` fields (``{"template": ..., "answer_pattern": ...}``)."""
    if not text.lstrip().startswith("{"):
        return text
    from .protocols import CustomProtocol

    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"protocol must be a protocol name or a JSON object, got {text!r} ({exc.msg})") from None
    if "range" in fields:
        fields["range"] = tuple(fields["range"])
    return CustomProtocol(**fields)


def parse_json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected a JSON object, got {text!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {text!r}")
    return value


@dataclass
class JudgeConfig:
    """Options of a `GenerativeRewardModel`. Presets fill in what a judge's model card uses; every
    option given explicitly wins over the preset.

    Example:
        >>> cfg = JudgeConfig.build(protocol="prometheus-v2", rubric="helpfulness", batch_size=16, pairing="ring")
        >>> cfg.backend, cfg.backend_options.batch_size, cfg.group_options.pairing
        ('transformers', 16, 'ring')
        >>> cfg.replace(max_new_tokens=128, batch_size=4).backend_options.batch_size
        4
    """

    # ---------------------------------------------------------------- protocol
    protocol: Union[str, JudgeProtocol, None] = option(
        None, "Judge protocol name (see `reward-judge protocols`), a protocol object, or (command line) a JSON "
        "object of CustomProtocol fields; None takes the judge preset's.", parse=parse_protocol)
    protocol_options: dict[str, Any] = option(
        help="Protocol options such as {\"message_split\": \"user\"}; presets use them to copy a card.",
        parse=parse_json_object, default_factory=dict)
    reference_protocol: Optional[str] = option(
        None, "Protocol used for rows that carry a reference answer (MT-Bench/Ko-Bench: the math prompt).")
    rubric: RubricLike = option(None, "Default rubric: a Rubric, a built-in name, a YAML/JSON path or rubric text.",
                                parse=str)
    chat_format: str = option(
        "template", "'template' (the tokenizer's chat template), 'llama2', 'mistral' or 'raw'.", choices=CHAT_FORMATS)

    # ----------------------------------------------------------------- scoring
    mode: str = option(
        "generate",
        "How a score is read. 'generate': the judge writes its feedback and the score is parsed (the cards' way). "
        "'expected': after the feedback the answer marker ('[RESULT] ', 'Rating: [[') is ensured and the judge's "
        "probability over the valid answers is read; the score is the probability-weighted mean. 'direct': no "
        "feedback, the marker follows the prompt and the distribution is read in one forward pass. 'cascade': 'direct' "
        "for every rollout, then 'expected' for those whose direct read is unsure (see cascade_threshold).",
        choices=MODES)
    cascade_threshold: float = option(
        0.5, "mode='cascade': a rollout is escalated to 'expected' when the confidence of its direct read is below "
        "this (0: never, 'direct'; 1: always, 'expected').")
    cascade_measure: str = option(
        "top_probability", "mode='cascade': the direct read's confidence, 'top_probability' (of the most likely "
        "answer) or 'entropy' (1 - entropy / log(number of answers)).", choices=CASCADE_MEASURES)

    # ---------------------------------------------------------------- decoding
    max_new_tokens: int = option(512, "Upper bound on the judge's answer length in tokens.")
    do_sample: bool = option(False, "Sample the judge's answer (False: greedy, reproducible rewards).")
    temperature: float = option(1.0, "Sampling temperature (used when do_sample, and for retries when set).")
    top_p: float = option(1.0, "Nucleus sampling mass.")
    top_k: Optional[int] = option(None, "Top-k sampling cut-off (None: off).")
    repetition_penalty: float = option(1.0, "Repetition penalty, 1.0 is off (Prometheus cards use 1.03).")
    seed: int = option(0, "Base seed for sampled judging and seeded orders; retry k uses seed + k.")
    think_budget: Optional[int] = option(
        None, "Judges that think first (rm-r1-reasoning, judgelrm): at most this many thinking tokens, then the close "
        "of thinking and the answer marker are written for the judge (budget forcing); max_new_tokens is then the "
        "answer's budget. None: no cap. Modes 'generate' and 'expected'.")

    # ------------------------------------------------------------- judge model
    tokenizer: Optional[str] = option(None, "Tokenizer id or path when it differs from the judge's.")
    revision: Optional[str] = option(None, "Hub revision of the judge.")
    trust_remote_code: bool = option(False, "Passed to transformers when loading the judge or its tokenizer.")

    # ----------------------------------------------------------------- backend
    backend: str = option(DEFAULT_BACKEND, "Where the judge runs: a registered backend ('transformers' in this "
                          "process, 'openai' on an OpenAI-compatible server, or one a package registers).")
    backend_options: Any = option(
        None, "The backend's own options (TransformersOptions, OpenAIOptions...); given as flat keyword arguments.",
        cli=False)

    # --------------------------------------------------------------- rewarding
    normalize: Union[str, Callable[[float], float]] = option(
        "linear", "'linear' ([0, 1]), 'centered' ([-1, 1]), 'none' (raw score) or (Python) a callable.",
        choices=NORMALIZATIONS)
    max_attempts: int = option(2, "Times the judge is asked before the fallback applies (retries sample with a new seed).")
    retry_temperature: float = option(0.7, "Temperature of retries (retries always sample, so they can differ).")
    fallback: Union[None, float, str] = option(
        None, "Reward when no valid answer is obtained: none (TRL leaves the sample out), 'min' (the lowest reward "
        "when the rollout itself broke the judge: use it with GRPO), a number, or 'raise'.",
        parse=parse_fallback)

    # ----------------------------------------------------------- group rewards
    group_options: Any = option(
        None, "Options of group rewards (GroupOptions: pairing, aggregation...); given as flat keyword arguments.",
        cli=False)

    # ------------------------------------------------------------ trainer glue
    reference_column: Optional[str] = option(
        "reference", "Dataset column (TRL reward kwarg) holding the reference answer; None ignores references.",
        cli=False)
    rubric_column: Optional[str] = option(
        "rubric", "Dataset column holding a per-row rubric; None always uses the model's rubric.", cli=False)
    log_feedback: bool = option(
        True, "Send the judge's feedback to TRL's completions table (log_extra) and its counters to log_metric.",
        cli=False)

    # ------------------------------------------------------------- reliability
    cache: Any = option(
        None, "Reward cache: None off, True in memory, a file path (SQLite, shared by processes) or a JudgeCache.",
        parse=str)
    cache_sampled: bool = option(
        False, "Also cache sampled judging (do_sample=True); off because a cached draw repeats instead of resampling.")
    cache_memory_size: int = option(100_000, "Entries kept in the in-memory LRU in front of the cache file.")
    max_input_tokens: Optional[int] = option(
        None, "Longest judge input in tokens; None: the judge's context length minus max_new_tokens when known.")
    truncation: str = option(
        "head_tail", "Over-long inputs: 'head_tail' keeps the response's head and tail around a marker; 'fail' skips "
        "the judge and counts a failure. The rubric and answer-format instructions are never cut.",
        choices=TRUNCATION_POLICIES)

    def __post_init__(self) -> None:
        spec = get_backend(self.backend) if isinstance(self.backend, str) else None
        if spec is None:
            raise ValueError(f"backend must be the name of a registered backend {backend_names()}, got {self.backend!r}")
        if self.backend_options is None:
            self.backend_options = spec.options()
        elif not isinstance(self.backend_options, spec.options):
            raise ValueError(f"backend={self.backend!r} takes {spec.options.__name__} as backend_options, "
                             f"got {type(self.backend_options).__name__}")
        if self.group_options is None:
            self.group_options = GroupOptions()
        elif not isinstance(self.group_options, GroupOptions):
            raise ValueError(f"group_options must be a GroupOptions, got {type(self.group_options).__name__}")
        self.validate()

    # ------------------------------------------------------------- building
    @classmethod
    def build(cls, **options: Any) -> "JudgeConfig":
        """A config from flat options: each name is a `JudgeConfig` field, a group option or an option of the backend.

        An option that belongs to another backend, or to none, is an error naming it.
        """
        backend = options.get("backend", DEFAULT_BACKEND)
        core, groups, backend_fields = split_options(options, backend=backend)
        core["backend_options"] = get_backend(backend).make_options(**backend_fields)
        core["group_options"] = GroupOptions(**groups)
        return cls(**core)

    def replace(self, **changes: Any) -> "JudgeConfig":
        """A copy with some options changed (flat names, as in `build`)."""
        backend = changes.get("backend", self.backend)
        core, groups, backend_fields = split_options(changes, backend=backend)
        if backend != self.backend:
            core["backend_options"] = get_backend(backend).make_options(**backend_fields)
        elif backend_fields:
            core["backend_options"] = dataclasses.replace(self.backend_options, **backend_fields)
        if groups:
            core["group_options"] = dataclasses.replace(self.group_options, **groups)
        return dataclasses.replace(self, **core)

    def options(self) -> dict[str, Any]:
        """Every option as one flat mapping (the inverse of `build`)."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in NESTED}
        for nested in (self.group_options, self.backend_options):
            flat.update({f.name: getattr(nested, f.name) for f in dataclasses.fields(nested)})
        return flat

    # ------------------------------------------------------------ per stage
    def attempt_plan(self) -> AttemptPlan:
        """How the scorer asks the judge: this config's decoding, attempts and retry temperature."""
        first = GenerationParams(self.max_new_tokens, self.do_sample, self.temperature, self.top_p, self.top_k,
                                 self.repetition_penalty, self.seed)
        return AttemptPlan(first, self.max_attempts, self.retry_temperature, self.think_budget)

    def scorer(self, backend: Any) -> Scorer:
        """The scorer of this config's mode on ``backend``: its attempt plan, and the cascade's escalation rule."""
        cls = scorer_for(self.mode)
        if cls is CascadeScorer:
            return CascadeScorer(backend, self.attempt_plan(), Escalation(self.cascade_threshold, self.cascade_measure))
        return cls(backend, self.attempt_plan())

    def reward_rule(self) -> RewardRule:
        """How a verdict becomes a reward: this config's normalisation and fallback."""
        return RewardRule(self.normalize, self.fallback)

    def validate(self) -> None:
        check_declared_types(self)
        for name in ("max_new_tokens", "max_attempts"):
            check_positive_int(name, getattr(self, name))
        check_choice("mode", self.mode, MODES)
        Escalation(self.cascade_threshold, self.cascade_measure)  # raises naming the option and the value
        for name in ("temperature", "retry_temperature", "repetition_penalty"):
            check_positive_number(name, getattr(self, name))
        if isinstance(self.top_p, bool) or not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        check_positive_int("top_k", self.top_k, allow_none=True)
        check_positive_int("seed", self.seed, allow_zero=True)
        check_choice("chat_format", self.chat_format, CHAT_FORMATS)
        if not callable(self.normalize) and self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize={self.normalize!r} is not one of {NORMALIZATIONS} or a callable")
        if self.fallback is not None and self.fallback not in (FALLBACK_RAISE, FALLBACK_MIN):
            if isinstance(self.fallback, bool) or not isinstance(self.fallback, (int, float)) \
                    or not math.isfinite(self.fallback):
                raise ValueError(f"fallback must be None, 'min', 'raise' or a finite number, got {self.fallback!r}")
        check_positive_int("cache_memory_size", self.cache_memory_size, allow_zero=True)
        if self.cache is not None and not isinstance(self.cache, (bool, str, os.PathLike)) \
                and type(self.cache).__name__ != "JudgeCache":
            raise ValueError(f"cache must be None, True, a file path or a JudgeCache, got {self.cache!r}")
        check_positive_int("max_input_tokens", self.max_input_tokens, allow_none=True)
        check_choice("truncation", self.truncation, TRUNCATION_POLICIES)
        if not isinstance(self.protocol_options, dict):
            raise ValueError(f"protocol_options must be a dict, got {self.protocol_options!r}")
        self._validate_think_budget()

    def _validate_think_budget(self) -> None:
        check_positive_int("think_budget", self.think_budget, allow_none=True)
        if self.think_budget is None:
            return
        if self.mode == "direct":
            raise ValueError(f"think_budget={self.think_budget} needs mode='generate' or 'expected': mode='direct' "
                             "generates nothing (it closes a thinking judge's thinking at once)")
        from .protocols import get_protocol

        for name in (self.protocol or "prometheus-v2", self.reference_protocol):
            if name is None:
                continue
            protocol = get_protocol(name) if isinstance(name, str) else name
            if not getattr(protocol, "thinks", False):
                raise ValueError(f"think_budget={self.think_budget} applies to judges that think first "
                                 f"(<think>...</think>: rm-r1-reasoning, judgelrm); protocol {protocol.name!r} "
                                 "does not think")


#: The nested option classes (given flat, routed by `split_options`).
NESTED = frozenset({"backend_options", "group_options"})
CONFIG_FIELDS = field_names(JudgeConfig) - NESTED
GROUP_FIELDS = field_names(GroupOptions)
# A backend option named like a core or group option would be ambiguous as a flat keyword: refused at registration.
reserve_option_names(CONFIG_FIELDS | NESTED, "JudgeConfig")
reserve_option_names(GROUP_FIELDS, "the group options (GroupOptions)")


def owners_of(name: str) -> tuple[str, ...]:
    """The registered backends that have an option ``name``."""
    return tuple(b for b in backend_names() if name in get_backend(b).option_names)


def is_backend_option(name: str) -> bool:
    """Whether ``name`` is an option of some registered backend (not of the core)."""
    return bool(owners_of(name))


def split_options(options: dict[str, Any], backend: str = DEFAULT_BACKEND
                  ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(core options, group options, backend options) from one flat mapping; unknown names raise ``TypeError``.

    Example:
        >>> core, groups, backend = split_options({"mode": "direct", "pairing": "ring", "batch_size": 4})
        >>> core, groups, backend
        ({'mode': 'direct'}, {'pairing': 'ring'}, {'batch_size': 4})
    """
    spec = get_backend(backend)
    core: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    backend_fields: dict[str, Any] = {}
    for name, value in options.items():
        if name in CONFIG_FIELDS:
            core[name] = value
        elif name in GROUP_FIELDS:
            groups[name] = value
        elif name in spec.option_names:
            backend_fields[name] = value
        elif owners_of(name):
            raise TypeError(f"option {name}={value!r} belongs to backend {' / '.join(map(repr, owners_of(name)))}, "
                            f"but backend={backend!r}")
        else:
            known = sorted(CONFIG_FIELDS | GROUP_FIELDS | set(spec.option_names))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"unknown option {name!r} (= {value!r}){hint} Valid options: {', '.join(known)}")
    return core, groups, backend_fields
