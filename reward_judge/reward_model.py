"""`GenerativeRewardModel`: rollouts in, rewards out, through one scoring pipeline.

It composes the stages and implements none of them:

    rollouts --RequestRenderer--> JudgeRequests --JudgePipeline(cache, dedup, retries, isolation)-->
    Scorer (generate | expected | direct) on a JudgeBackend --> Judgments --to_result--> JudgeResults
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Optional, Sequence, Union

from .backends.base import JudgeBackend
from .backends.registry import backend_class
from .cache import JudgeCache, open_cache
from .chat import ChatFormatter
from .config import FALLBACK_RAISE, JudgeConfig
from .pipeline import JudgePipeline
from .presets import DEFAULT_JUDGE, Preset, resolve_config
from .protocols import JudgeProtocol, get_protocol
from .requests import JudgeRequest, RequestRenderer
from .result import JudgeResult
from .rewarding import to_result
from .rubric import RubricLike, resolve_rubric
from .scoring import Judgment, Scorer, make_scorer, scorer_for
from .stats import JudgeStats
from .truncation import input_limit

logger = logging.getLogger(__name__)


class JudgeFailure(RuntimeError):
    """Raised when ``fallback="raise"`` and some rollouts got no valid judge answer."""

    def __init__(self, message: str, results: list[JudgeResult]):
        super().__init__(message)
        self.results = results


class GenerativeRewardModel:
    """A generative judge used as a reward function.

    It renders each rollout into the exact prompt its judge was trained on, runs the judge in
    batches, reads the score (parsed from the feedback, or from the answer distribution) and returns
    a normalised reward. Call it like a TRL reward function, or use `score` for full `JudgeResult`
    records.

    Example:
        >>> rm = GenerativeRewardModel.from_pretrained("default")            # doctest: +SKIP
        >>> rm(prompts=["What is 2+2?"], completions=["4"])                  # doctest: +SKIP
        [0.66]
        >>> rm.score(["What is 2+2?"], ["4"], reference=["4"])[0].ok         # doctest: +SKIP
        True
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
        scorer = scorer_for(config.mode)
        for protocol in self.protocols:
            scorer.check_protocol(protocol)
        self._backend: Optional[JudgeBackend] = None
        self._renderer: Optional[RequestRenderer] = None
        self._pipeline: Optional[JudgePipeline] = None
        if backend is not None:
            self._assemble(backend)
        elif isinstance(config.backend, str):
            # refuse a mode the backend cannot serve now, not at the first training step
            cls = backend_class(config.backend)
            scorer.check_backend_class(cls, config.backend_options)

    @property
    def protocols(self) -> list[JudgeProtocol]:
        return [self.protocol] + ([self.reference_protocol] if self.reference_protocol else [])

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
                loaded transformers model (pass ``tokenizer=`` too), a ``(model, tokenizer)`` pair,
                or a `JudgeBackend`.
            protocol: judge protocol name or object; ``None`` takes the judge's preset.
            rubric: default rubric for rubric-based protocols.
            tokenizer: the tokenizer of an already loaded model (or a tokenizer id/path option).
            name: the reward's name in trainer logs (``__name__``).
            lazy: resolve and check the configuration now, load the weights at the first call
                (for reward functions that are pickled into worker processes before use).
            **options: any `JudgeConfig` option (mode, max_new_tokens, do_sample, normalize,
                max_attempts, fallback, cache...) or an option of the chosen backend
                (`TransformersOptions`: batch_size, dtype, device_map, load_in_4bit, adapter...;
                `OpenAIOptions`: base_url, model, endpoint, request_timeout...).
        """
        if isinstance(judge, tuple) and len(judge) == 2:
            judge, tokenizer = judge
        if isinstance(tokenizer, str):
            options["tokenizer"], tokenizer = tokenizer, None
        config, preset = resolve_config(judge, protocol, rubric, **options)
        if not isinstance(judge, JudgeBackend):  # refuse an unservable mode before loading any weights
            scorer_for(config.mode).check_backend_class(backend_class(config.backend), config.backend_options)
        if lazy and not isinstance(judge, str):
            raise ValueError(f"lazy=True needs a judge that can be reloaded (a hub id, a path or 'default'), got {type(judge).__name__}")
        backend = None if lazy else load_backend(judge, config, tokenizer)
        return cls(backend, config, judge=judge, preset=preset, name=name)

    @property
    def backend(self) -> JudgeBackend:
        if self._backend is None:
            self._assemble(load_backend(self._judge_spec, self.config, None))
        return self._backend  # type: ignore[return-value]

    def _assemble(self, backend: JudgeBackend) -> None:
        """Build the pipeline's stages on ``backend``, refusing a mode it cannot serve."""
        scorer: Scorer = make_scorer(backend, self.config)
        backend.ensure(scorer.needs, self.config.mode)
        limit = input_limit(self.config.max_input_tokens, backend.context_length, self.config.max_new_tokens)
        self._renderer = RequestRenderer(self.protocol, self.reference_protocol, self.rubric, self.formatter,
                                         tokenizer=backend.tokenizer, limit=limit, truncation=self.config.truncation,
                                         server_applies_template=backend.applies_chat_template)
        self._pipeline = JudgePipeline(scorer, identity=backend.identity, cache=self.cache, stats=self.stats,
                                       cache_sampled=self.config.cache_sampled)
        self._backend = backend

    @property
    def renderer(self) -> RequestRenderer:
        """The rendering stage (rollout -> `JudgeRequest`)."""
        if self._renderer is None:
            self.backend  # noqa: B018 - loading the backend assembles the stages
        return self._renderer  # type: ignore[return-value]

    @property
    def pipeline(self) -> JudgePipeline:
        """The scoring stage (requests -> judgments, with cache, dedup, retries, isolation)."""
        if self._pipeline is None:
            self.backend  # noqa: B018
        return self._pipeline  # type: ignore[return-value]

    @property
    def scorer(self) -> Scorer:
        return self.pipeline.scorer

    # -------------------------------------------------------------- rendering
    def render(self, prompt: Any, completion: Any, *, reference: Optional[str] = None, rubric: RubricLike = None,
               completion_b: Any = None) -> str:
        """The exact judge input text for one rollout (after the chat format and the length policy)."""
        return self.request(prompt, completion, reference=reference, rubric=rubric, completion_b=completion_b).input.text

    def request(self, prompt: Any, completion: Any, *, reference: Optional[str] = None, rubric: RubricLike = None,
                completion_b: Any = None) -> JudgeRequest:
        """The `JudgeRequest` for one rollout: the judge input and where its untrusted spans are."""
        return self.renderer.render(prompt, completion, reference=reference, rubric=rubric, completion_b=completion_b)

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
        renderer = self.renderer
        requests = [
            renderer.render(prompts[i], completions[i], reference=references[i], rubric=rubrics[i],
                            completion_b=completions_b[i] if completions_b is not None else None, index=i)
            for i in range(n)
        ]
        self.stats.calls += 1
        self.stats.rollouts += n
        self.stats.truncated += sum(1 for r in requests if r.truncated)
        self.stats.sanitized += sum(1 for r in requests if r.sanitized)
        judged = [i for i, r in enumerate(requests) if r.error is None]
        outcomes = dict(zip(judged, self.pipeline.run([requests[i] for i in judged]), strict=True))
        results: list[JudgeResult] = []
        for i, request in enumerate(requests):
            if i in outcomes:
                judgment, cached = outcomes[i].judgment, outcomes[i].cached
            else:  # an input that cannot be judged (e.g. too long with truncation="fail") is a counted failure
                judgment, cached = Judgment.failure(request.error or "not judged", retryable=False), False
                self.stats.failure_reasons[request.error or "not judged"] += 1
            result = to_result(judgment, request.protocol, normalize=self.config.normalize,
                               fallback=self.config.fallback, mode=self.config.mode, cached=cached,
                               truncated=request.truncated)
            if request.sanitized:
                result.extra["sanitized"] = True
            results.append(result)
        self._account(results)
        return results

    def _account(self, results: list[JudgeResult]) -> None:
        failed = [i for i, r in enumerate(results) if r.fallback]
        if not failed:
            return
        self.stats.fallbacks += len(failed)
        reasons = Counter(results[i].error for i in failed)
        logger.warning("%d of %d rollouts got no valid judge answer and fell back to %r (%s)", len(failed), len(results),
                       self.config.fallback, "; ".join(f"{count}x {reason}" for reason, count in reasons.most_common(3)))
        if self.config.fallback == FALLBACK_RAISE:
            raise JudgeFailure(f"{len(failed)} of {len(results)} rollouts got no valid judge answer: rows {failed[:20]}",
                               results)

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

    # --------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Release the backend (weights, connections) and the cache file."""
        if self._backend is not None:
            self._backend.close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> "GenerativeRewardModel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        if not isinstance(self._judge_spec, str):
            raise TypeError(
                "this reward model wraps an in-memory model and cannot be pickled; build it from a hub id, "
                "a local path or 'default' so the judge can be reloaded in another process"
            )
        state = dict(self.__dict__)
        # weights, connections and the stages built on them never travel: they are rebuilt where used
        state["_backend"] = state["_renderer"] = state["_pipeline"] = None
        return state

    def __repr__(self) -> str:
        judge = self._judge_spec if isinstance(self._judge_spec, str) else type(self._judge_spec).__name__
        return (f"GenerativeRewardModel(judge={judge!r}, protocol={self.protocol.name!r}, mode={self.config.mode!r}, "
                f"backend={self.config.backend!r})")


def load_backend(judge: Any, config: JudgeConfig, tokenizer: Any) -> JudgeBackend:
    """The backend a judge spec and config describe (loading weights or connecting to a server)."""
    if isinstance(judge, JudgeBackend):
        return judge
    if config.backend == "openai":
        from .backends.openai.backend import load_openai_backend

        return load_openai_backend(judge, config)
    from .backends.transformers.backend import TransformersBackend

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
    options = config.backend_options
    return TransformersBackend(judge, tokenizer, batch_size=options.batch_size, batch_tokens=options.batch_tokens,
                               prefix_cache=options.prefix_cache)


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
