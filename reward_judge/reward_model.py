"""`GenerativeRewardModel`: rollouts in, judge prompts rendered, judge run, scores parsed, rewards out."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

from .backends.base import GenerationParams, JudgeBackend
from .cache import JudgeCache, cache_key, open_cache
from .chat import ChatFormatter
from .config import FALLBACK_RAISE, JudgeConfig
from .conversation import completion_text, prompt_text
from .normalize import normalize_score, normalize_winner
from .presets import DEFAULT_JUDGE, Preset, resolve_config
from .protocols import JudgeProtocol, get_protocol
from .result import JudgeResult, Verdict
from .rubric import RubricLike, resolve_rubric
from .isolation import generate_isolated
from .textsafe import tokenizable
from .truncation import InputTooLong, fit_response, input_limit

logger = logging.getLogger(__name__)


class JudgeFailure(RuntimeError):
    """Raised when ``fallback="raise"`` and some rollouts got no valid judge answer."""

    def __init__(self, message: str, results: list[JudgeResult]):
        super().__init__(message)
        self.results = results


@dataclass
class _Item:
    """One rollout on its way through the pipeline."""

    protocol: JudgeProtocol
    text: str  # the judge input after chat formatting
    truncated: int = 0  # response tokens cut by the length policy
    error: Optional[str] = None  # set when the input cannot be judged (too long under truncation="fail")


@dataclass
class JudgeStats:
    """Counters since the reward model was built (read them with ``rm.stats``)."""

    calls: int = 0
    rollouts: int = 0
    judge_requests: int = 0
    parse_failures: int = 0
    retries: int = 0
    fallbacks: int = 0
    backend_errors: int = 0
    duplicates_skipped: int = 0
    truncated: int = 0
    cache_hits: int = 0
    judge_seconds: float = 0.0
    failure_reasons: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "failure_reasons"}
        data["failure_reasons"] = dict(self.failure_reasons)
        return data


class GenerativeRewardModel:
    """A generative judge used as a reward function.

    It renders each rollout into the exact prompt its judge was trained on, runs the judge in
    batches, parses the score and returns a normalised reward. Call it like a TRL reward function,
    or use `score` for full `JudgeResult` records.

    Example:
        >>> rm = GenerativeRewardModel.from_pretrained("default")            # doctest: +SKIP
        >>> rm(prompts=["What is 2+2?"], completions=["4"])                  # doctest: +SKIP
        [None]
        >>> rm.score(["What is 2+2?"], ["4"], reference=["4"])[0].ok         # doctest: +SKIP
        False
    """

    def __init__(
        self,
        backend: Optional[JudgeBackend],
        config: JudgeConfig,
        *,
        judge: Any = None,
        preset: Optional[Preset] = None,
        name: Optional[str] = None,
    ):
        self.config = config
        self.preset = preset
        self._judge_spec = judge
        self._backend: Optional[JudgeBackend] = backend
        self.protocol = get_protocol(config.protocol or "prometheus-v2", **config.protocol_options)
        self.reference_protocol = (
            get_protocol(config.reference_protocol, **_applicable(config.reference_protocol, config.protocol_options))
            if config.reference_protocol else None
        )
        self.rubric = resolve_rubric(config.rubric)
        self.formatter = ChatFormatter(config.chat_format)
        self.stats = JudgeStats()
        self.cache: Optional[JudgeCache] = open_cache(config.cache, config.cache_memory_size)
        self.__name__ = name or f"judge-{self.protocol.name}"

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        judge: Any = DEFAULT_JUDGE,
        protocol: Union[str, JudgeProtocol, None] = None,
        rubric: RubricLike = None,
        *,
        tokenizer: Any = None,
        name: Optional[str] = None,
        lazy: bool = False,
        **options: Any,
    ) -> "GenerativeRewardModel":
        """Build a reward model from a judge.

        Args:
            judge: ``"default"`` (the embedded demonstration judge), a hub id or local folder, a
                loaded transformers model (pass ``tokenizer=`` too), or a ``(model, tokenizer)`` pair.
            protocol: judge protocol name or object; ``None`` takes the judge's preset.
            rubric: default rubric for rubric-based protocols.
            tokenizer: the tokenizer of an already loaded model.
            name: the reward's name in trainer logs (``__name__``).
            lazy: resolve and check the configuration now, load the weights at the first call
                (for reward functions that are pickled into worker processes before use).
            **options: any `JudgeConfig` field (batch_size, max_new_tokens, do_sample, dtype,
                device_map, load_in_4bit, adapter, normalize, max_attempts, fallback...).
        """
        if isinstance(judge, tuple) and len(judge) == 2:
            judge, tokenizer = judge
        config, preset = resolve_config(judge, protocol, rubric, **options)
        if lazy and not isinstance(judge, str):
            raise ValueError(f"lazy=True needs a judge that can be reloaded (a hub id, a path or 'default'), got {type(judge).__name__}")
        backend = None if lazy else cls._load_backend(judge, config, tokenizer)
        return cls(backend, config, judge=judge, preset=preset, name=name)

    @staticmethod
    def _load_backend(judge: Any, config: JudgeConfig, tokenizer: Any) -> JudgeBackend:
        from .backends.transformers import TransformersBackend

        if isinstance(judge, JudgeBackend):
            return judge
        if config.backend == "openai":
            from .backends.openai import load_openai_backend

            return load_openai_backend(judge, config)
        if isinstance(judge, str):
            if judge == DEFAULT_JUDGE:
                from .embedded import embedded_judge_path

                path, identity = embedded_judge_path()
                return TransformersBackend.load(str(path), config.replace(dtype="float32"), identity=identity)
            return TransformersBackend.load(judge, config)
        if tokenizer is None:
            raise ValueError(
                f"judge is a loaded {type(judge).__name__}: pass its tokenizer with tokenizer=..., "
                "or pass (model, tokenizer)"
            )
        if not hasattr(judge, "generate"):
            raise TypeError(f"judge must be 'default', a hub id or path, or a generative model; got {type(judge).__name__}")
        return TransformersBackend(judge, tokenizer, batch_size=config.batch_size, batch_tokens=config.batch_tokens,
                                   prefix_cache=config.prefix_cache)

    @property
    def backend(self) -> JudgeBackend:
        if self._backend is None:
            self._backend = self._load_backend(self._judge_spec, self.config, None)
        return self._backend

    # -------------------------------------------------------------- rendering
    def render(
        self,
        prompt: Any,
        completion: Any,
        *,
        reference: Optional[str] = None,
        rubric: RubricLike = None,
        completion_b: Any = None,
    ) -> str:
        """The exact judge input text for one rollout (after the chat format)."""
        return self._prepare(prompt, completion, reference, rubric, completion_b, index=None).text

    def _prepare(self, prompt, completion, reference, rubric, completion_b, index) -> _Item:
        where = "" if index is None else f"[{index}]"
        instruction = prompt_text(prompt, f"prompts{where}")
        response = completion_text(completion, f"completions{where}")
        response_b = None if completion_b is None else completion_text(completion_b, f"completions_b{where}")
        protocol = self.reference_protocol if (reference is not None and self.reference_protocol) else self.protocol
        # lone surrogates would crash the tokenizer deep inside the judge call: they become U+FFFD
        instruction, response = tokenizable(instruction), tokenizable(response)
        response_b = None if response_b is None else tokenizable(response_b)
        reference = tokenizable(reference) if isinstance(reference, str) else reference
        use_rubric = (rubric if rubric is not None else self.rubric) if protocol.uses_rubric else None

        def build(resp: str) -> str:
            messages = protocol.render(instruction, resp, reference=reference, rubric=use_rubric, response_b=response_b)
            return tokenizable(self.formatter.format(messages, self.backend.tokenizer))

        tokenizer = self.backend.tokenizer
        limit = input_limit(self.config.max_input_tokens, getattr(self.backend, "context_length", None),
                            self.config.max_new_tokens)
        text = build(response)
        # every token covers at least one byte, so a short input cannot be over the limit: skip counting
        if limit is None or tokenizer is None or len(text.encode("utf-8")) + 8 <= limit:
            return _Item(protocol, text)
        special = self.formatter.add_special_tokens

        def count(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=special)["input_ids"])

        try:
            if self.config.truncation == "fail":
                if count(text) > limit:
                    raise InputTooLong(f"the judge input has {count(text)} tokens, over max_input_tokens={limit} "
                                       f"(truncation='fail')")
                return _Item(protocol, text)
            text, dropped = fit_response(build, response, limit, count, tokenizer)
            return _Item(protocol, text, truncated=dropped)
        except InputTooLong as exc:
            return _Item(protocol, text, error=str(exc))

    def generation_params(self, attempt: int = 0) -> GenerationParams:
        cfg = self.config
        if attempt == 0:
            return GenerationParams(cfg.max_new_tokens, cfg.do_sample, cfg.temperature, cfg.top_p, cfg.top_k,
                                    cfg.repetition_penalty, cfg.seed)
        # Retries always sample (a greedy retry would repeat the same failure) with a new seed.
        temperature = cfg.temperature if cfg.do_sample else cfg.retry_temperature
        return GenerationParams(cfg.max_new_tokens, True, temperature, cfg.top_p, cfg.top_k,
                                cfg.repetition_penalty, cfg.seed + attempt)

    # ------------------------------------------------------------------ scoring
    def score(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        *,
        reference: Union[None, str, Sequence[Optional[str]]] = None,
        rubric: Union[RubricLike, Sequence[RubricLike]] = None,
        completions_b: Optional[Sequence[Any]] = None,
    ) -> list[JudgeResult]:
        """Judge each (prompt, completion) pair; one `JudgeResult` per input, in input order.

        ``reference`` and ``rubric`` are one value for every row or a list with one value per row.
        ``completions_b`` is required by pairwise protocols (the result's reward is the first
        completion's: 1 win, 0 loss, 0.5 tie with linear normalisation).
        """
        n = _check_batch(prompts, completions, completions_b)
        references = _per_row("reference", reference, n)
        rubrics = _per_row("rubric", rubric, n)
        items = [
            self._prepare(prompts[i], completions[i], references[i], rubrics[i],
                          completions_b[i] if completions_b is not None else None, index=i)
            for i in range(n)
        ]
        self.stats.calls += 1
        self.stats.rollouts += n
        results: list[Any] = [None] * n
        judged = []
        for i, item in enumerate(items):
            if item.error is None:
                judged.append(i)
            else:  # an input that cannot be judged (e.g. too long with truncation="fail") is a counted failure
                results[i] = self._to_result(item.protocol, Verdict(error=item.error), "", 0, item.error)
        # identical (input, protocol) pairs are judged once, whatever the mode: GRPO groups repeat completions
        unique: dict[tuple[str, str], int] = {}
        for i in judged:
            unique.setdefault((items[i].text, items[i].protocol.name), i)
        self.stats.duplicates_skipped += len(judged) - len(unique)
        firsts = list(unique.values())
        texts, protocols = [items[i].text for i in firsts], [items[i].protocol for i in firsts]
        if self.config.mode == "generate":
            judged_once = [
                dataclasses.replace(self._to_result(protocol, verdict, raw, attempts, backend_error), cached=cached)
                for protocol, (verdict, raw, attempts, backend_error, cached) in zip(protocols, self._judge(texts, protocols))
            ]
        else:  # "expected" / "direct": the score is read from the judge's answer distribution
            from .modes import judge_by_distribution

            judged_once = judge_by_distribution(self, texts, protocols)
        by_key = dict(zip(unique, judged_once))
        for i in judged:  # duplicates get their own copy, so changing one result never changes another
            results[i] = dataclasses.replace(by_key[(items[i].text, items[i].protocol.name)])
        for item, result in zip(items, results):
            result.truncated = item.truncated
        self.stats.truncated += sum(1 for item in items if item.truncated)
        failed = [i for i, r in enumerate(results) if r.fallback]
        if failed:
            self.stats.fallbacks += len(failed)
            reasons = Counter(results[i].error for i in failed)
            logger.warning("%d of %d rollouts got no valid judge answer and fell back to %r (%s)", len(failed), n,
                           self.config.fallback, "; ".join(f"{count}x {reason}" for reason, count in reasons.most_common(3)))
            if self.config.fallback == FALLBACK_RAISE:
                raise JudgeFailure(f"{len(failed)} of {n} rollouts got no valid judge answer: rows {failed[:20]}", results)
        return results

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **kwargs: Any) -> list[Optional[float]]:
        """TRL reward function: ``list[float | None]``, ``None`` where the judge gave no valid answer.

        Extra dataset columns arrive as keyword arguments, one value per completion: the columns named
        by ``reference_column`` and ``rubric_column`` reach the judge, the others are ignored. When the
        trainer passes ``log_extra`` / ``log_metric`` (GRPO, RLOO), the judge's feedback becomes a column of
        the completions table and its counters become metrics (see `trainer_metrics`).
        """
        cfg = self.config
        reference = kwargs.get(cfg.reference_column) if cfg.reference_column else None
        rubric = kwargs.get(cfg.rubric_column) if cfg.rubric_column else None
        # A dataset column that another reward uses must not break a judge without that slot.
        if reference is not None and self.protocol.reference_slot == "none" and self.reference_protocol is None:
            self._note_once("reference", f"column {cfg.reference_column!r} ignored: protocol {self.protocol.name} has no reference slot")
            reference = None
        if rubric is not None and not self.protocol.uses_rubric:
            self._note_once("rubric", f"column {cfg.rubric_column!r} ignored: protocol {self.protocol.name} has no rubric slot")
            rubric = None
        started = time.perf_counter()
        results = self.score(prompts, completions, reference=reference, rubric=rubric)
        if cfg.log_feedback:
            self.report_to_trainer(results, time.perf_counter() - started, kwargs.get("log_extra"), kwargs.get("log_metric"))
        return [r.reward for r in results]

    def _note_once(self, key: str, message: str) -> None:
        noted = self.__dict__.setdefault("_noted", set())
        if key not in noted:
            noted.add(key)
            logger.info(message)

    def trainer_metrics(self, results: Sequence[JudgeResult], seconds: float) -> dict[str, float]:
        """Per-batch metrics a trainer logs: parse-failure rate, fallbacks, cache hit rate, judge seconds."""
        n = max(len(results), 1)
        return {
            f"{self.__name__}/parse_failure_rate": sum(not r.ok for r in results) / n,
            f"{self.__name__}/fallbacks": float(sum(r.fallback for r in results)),
            f"{self.__name__}/cache_hit_rate": sum(r.cached for r in results) / n,
            f"{self.__name__}/judge_seconds": seconds,
        }

    def report_to_trainer(self, results: Sequence[JudgeResult], seconds: float, log_extra: Any = None,
                          log_metric: Any = None) -> None:
        """Send feedback (``log_extra``) and metrics (``log_metric``) through TRL's reward-function hooks."""
        if callable(log_extra):
            log_extra(f"{self.__name__}_feedback",
                      [r.feedback if r.ok else f"[no valid answer: {r.error}] {r.raw[:200]}" for r in results])
        if callable(log_metric):
            for name, value in self.trainer_metrics(results, seconds).items():
                log_metric(name, value)

    # ------------------------------------------------------------ the judge loop
    def _judge(self, texts: list[str], protocols: list[JudgeProtocol]) -> list[tuple[Verdict, str, int, Optional[str], bool]]:
        """(verdict, raw output, attempts, backend error, cached) per distinct text, in order (``score`` dedups)."""
        keys = [(text, protocol.name) for text, protocol in zip(texts, protocols)]
        state: list[tuple[Verdict, str, int, Optional[str], bool]] = \
            [(Verdict(error="not judged"), "", 0, None, False)] * len(keys)
        protocol_by_name = {p.name: p for p in protocols}
        cache_keys = self._cache_keys(keys, protocol_by_name)
        pending = []
        for k in range(len(keys)):
            record = self.cache.get(cache_keys[k]) if cache_keys else None
            if record is None:
                pending.append(k)
            else:
                self.stats.cache_hits += 1
                verdict = Verdict(score=record["score"], winner=record["winner"], feedback=record["feedback"])
                state[k] = (verdict, record["raw"], record["attempts"], None, True)
        for attempt in range(self.config.max_attempts):
            if not pending:
                break
            if attempt:
                self.stats.retries += len(pending)
            params = self.generation_params(attempt)
            started = time.perf_counter()
            # a failing batch is split until the failing inputs are alone: the others keep their answers
            outputs, errors = generate_isolated(self.backend, [keys[k][0] for k in pending], params,
                                                add_special_tokens=self.formatter.add_special_tokens)
            self.stats.backend_errors += sum(error is not None for error in errors)
            self.stats.judge_seconds += time.perf_counter() - started
            self.stats.judge_requests += len(pending)
            still = []
            for k, raw, error in zip(pending, outputs, errors):
                verdict = protocol_by_name[keys[k][1]].parse(raw) if error is None else Verdict(error=error)
                state[k] = (verdict, raw, attempt + 1, error, False)
                if not verdict.ok:
                    self.stats.parse_failures += error is None
                    self.stats.failure_reasons[verdict.error or "unknown"] += 1
                    still.append(k)
                elif cache_keys:
                    # only valid verdicts are stored: failures are asked again next time (a backend error is
                    # transient, and a later run may allow more attempts)
                    self.cache.put(cache_keys[k], {"score": verdict.score, "winner": verdict.winner,  # type: ignore[union-attr]
                                                   "feedback": verdict.feedback, "raw": raw, "attempts": attempt + 1})
            pending = still
        return state

    def _cache_keys(self, keys: list[tuple[str, str]], protocols: dict[str, JudgeProtocol]) -> list[str]:
        """One cache key per unique input, or ``[]`` when caching is off for this call."""
        if self.cache is None or (self.config.do_sample and not self.config.cache_sampled):
            return []
        identity = self.backend.identity
        mode = str(getattr(self.config, "mode", "generate"))
        params = self.generation_params(0).cache_fields()
        params["max_attempts"] = self.config.max_attempts  # retries can turn a failure into a verdict
        return [cache_key(identity, text, name, str(protocols[name].version), mode, params) for text, name in keys]

    def _to_result(self, protocol: JudgeProtocol, verdict: Verdict, raw: str, attempts: int,
                   backend_error: Optional[str]) -> JudgeResult:
        result = JudgeResult(score=verdict.score, winner=verdict.winner, feedback=verdict.feedback, raw=raw,
                             ok=verdict.ok, attempts=attempts, error=verdict.error)
        if verdict.score is not None:
            result.reward = normalize_score(verdict.score, protocol.score_range, self.config.normalize)  # type: ignore[arg-type]
        elif verdict.winner is not None:
            result.reward = normalize_winner(verdict.winner, self.config.normalize)
        else:
            result.fallback = True
            fallback = self.config.fallback
            result.reward = None if fallback in (None, FALLBACK_RAISE) else float(fallback)  # type: ignore[arg-type]
        return result

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        if not isinstance(self._judge_spec, str):
            raise TypeError(
                "this reward model wraps an in-memory model and cannot be pickled; build it from a hub id, "
                "a local path or 'default' so the judge can be reloaded in another process"
            )
        state = dict(self.__dict__)
        state["_backend"] = None  # weights never travel through pickle: the judge reloads where it is used
        return state

    def __repr__(self) -> str:
        return (f"GenerativeRewardModel(judge={self._judge_spec if isinstance(self._judge_spec, str) else type(self._judge_spec).__name__!r}, "
                f"protocol={self.protocol.name!r}, chat_format={self.config.chat_format!r})")


def _applicable(protocol_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Protocol options that the other protocol of a pair also has (message split, etc.)."""
    target = get_protocol(protocol_name)
    fields = set(getattr(target, "__dataclass_fields__", {}))
    return {k: v for k, v in options.items() if k in fields and (k != "message_split" or v in target.message_splits)}


def _check_batch(prompts: Sequence[Any], completions: Sequence[Any], completions_b: Optional[Sequence[Any]]) -> int:
    for name, value in (("prompts", prompts), ("completions", completions)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"{name} must be a list, got {type(value).__name__}: {str(value)[:80]!r}")
    if len(prompts) != len(completions):
        raise ValueError(f"prompts and completions must have the same length, got {len(prompts)} and {len(completions)}")
    if completions_b is not None and len(completions_b) != len(completions):
        raise ValueError(f"completions_b must have {len(completions)} items, got {len(completions_b)}")
    return len(prompts)


def _per_row(name: str, value: Any, n: int) -> list[Any]:
    if value is None or isinstance(value, str) or not isinstance(value, Sequence):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{name} must be one value or a list of {n} values (one per completion), got {len(value)}")
    return list(value)
