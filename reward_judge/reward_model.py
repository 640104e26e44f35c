"""`GenerativeRewardModel`: rollouts in, rewards out, through one scoring pipeline.

It composes the stages and implements none of them:

    rollouts --RequestRenderer--> JudgeRequests --JudgeRunner(cache, dedup, retries, isolation)-->
    Scorer (generate | expected | direct | cascade) on a JudgeBackend --> Judgments --to_result--> JudgeResults

Group rewards (pairwise and listwise protocols) go through `GroupRewarder` on the same renderer and
runner; the TRL reward-function call is `reward_judge.reward_function.reward_call`. Several rubrics are
judged in one pass by `score_rubrics`, and `for_rubrics` makes one TRL reward of each
(`reward_judge.rubric_rewards`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any, Optional, Sequence, Union

from .backends.base import JudgeBackend
from .backends.registry import get_backend
from .cache import JudgeCache, open_cache
from .chat_format import ChatFormatter
from .config import JudgeConfig, is_backend_option
from .groups.rewarder import GroupRewarder, is_groupwise
from .judges import DEFAULT_JUDGE, is_reloadable, open_backend
from .presets import Preset, resolve_config
from .protocols import JudgeProtocol, get_protocol
from .rendering import JudgeRequest, RequestRenderer
from .result import JudgeResult
from .reward_function import reward_call
from .rewarding import FALLBACK_RAISE, to_result
from .rubric import RubricLike, resolve_rubric
from .rubric_rewards import RubricReward, RubricRewards
from .runner import JudgeRunner
from .scoring import Scorer, scorer_for
from .stats import JudgeStats
from .truncation import input_limit
from .verdicts import Judgment

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
        self.judge = judge
        self.protocol = get_protocol(config.protocol or "prometheus-v2", **config.protocol_options)
        self.reference_protocol = (
            get_protocol(config.reference_protocol, **_applicable(config.reference_protocol, config.protocol_options))
            if config.reference_protocol else None
        )
        if config.rubric is not None and not any(p.uses_rubric for p in self.protocols):
            raise ValueError(f"protocol {self.protocol.name!r} has no rubric slot, but rubric="
                             f"{str(config.rubric)[:80]!r} was given")
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
        self._runner: Optional[JudgeRunner] = None
        if backend is not None:
            self._assemble(backend)
        else:  # refuse a mode the backend cannot serve now, not at the first training step
            spec = get_backend(config.backend)
            scorer.check_capabilities(spec.capabilities(config.backend_options), config.backend)

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
                max_attempts, fallback, cache...), a group option (`GroupOptions`: pairing,
                aggregation...) or an option of the chosen backend (`TransformersOptions`: batch_size,
                dtype, device_map, load_in_4bit, adapter...; `OpenAIOptions`: base_url, model,
                endpoint, request_timeout...).
        """
        if isinstance(judge, tuple) and len(judge) == 2:
            judge, tokenizer = judge
        if isinstance(tokenizer, str):
            options["tokenizer"], tokenizer = tokenizer, None
        config, preset = resolve_config(judge, protocol, rubric, **options)
        if lazy and not is_reloadable(judge):
            raise ValueError(f"lazy=True needs a judge that can be reloaded (a hub id, a path or 'default'), got "
                             f"{type(judge).__name__}")
        if isinstance(judge, JudgeBackend):
            return cls(judge, config, judge=judge, preset=preset, name=name)
        model = cls(None, config, judge=judge, preset=preset, name=name)  # refuses an unservable mode before loading
        if not lazy:
            model._assemble(open_backend(judge, config, tokenizer))
        return model

    def with_options(self, **changes: Any) -> "GenerativeRewardModel":
        """Another reward model on the same loaded judge with some options changed (flat names, as in
        `from_pretrained`): another mode, protocol, seed or rubric without loading the weights again.

        Example:
            >>> direct = GenerativeRewardModel.from_pretrained("default")     # doctest: +SKIP
            >>> expected = direct.with_options(mode="expected", max_new_tokens=64)   # doctest: +SKIP
        """
        backend_changes = sorted(k for k in changes if k == "backend" or is_backend_option(k))
        if backend_changes:
            raise ValueError(f"with_options changes how the judge is scored, not how it is loaded: "
                             f"{backend_changes} are backend options; build a new reward model for them")
        if "protocol" in changes and "rubric" not in changes:
            protocol = get_protocol(changes["protocol"] or "prometheus-v2")
            if not protocol.uses_rubric:  # the rubric belonged to the protocol being replaced
                changes["rubric"] = None
        return GenerativeRewardModel(self._backend, self.config.replace(**changes), judge=self.judge,
                                     preset=self.preset, name=self.__name__)

    @property
    def backend(self) -> JudgeBackend:
        """The judge backend, loaded on first use when the model was built with ``lazy=True`` or unpickled."""
        if self._backend is None:
            self._assemble(open_backend(self.judge, self.config))
        return self._backend  # type: ignore[return-value]

    def _assemble(self, backend: JudgeBackend) -> None:
        """Build the stages on ``backend``, refusing a mode it cannot serve."""
        scorer_for(self.config.mode).check_backend(backend)
        scorer: Scorer = self.config.scorer(backend)
        backend.ensure(scorer.needs, self.config.mode)
        limit = input_limit(self.config.max_input_tokens, backend.context_length, self.config.max_new_tokens)
        self._renderer = RequestRenderer(self.protocol, self.reference_protocol, self.rubric, self.formatter,
                                         tokenizer=backend.tokenizer, limit=limit, truncation=self.config.truncation,
                                         server_applies_template=backend.applies_chat_template,
                                         count=backend.count_input_tokens)
        self._runner = JudgeRunner(scorer, identity=backend.identity, cache=self.cache, stats=self.stats,
                                   cache_sampled=self.config.cache_sampled)
        self._backend = backend

    @property
    def renderer(self) -> RequestRenderer:
        """The rendering stage (rollout -> `JudgeRequest`)."""
        if self._renderer is None:
            self.backend  # noqa: B018 - loading the backend assembles the stages
        return self._renderer  # type: ignore[return-value]

    @property
    def runner(self) -> JudgeRunner:
        """The judging stage (requests -> outcomes, with cache, dedup, retries, isolation)."""
        if self._runner is None:
            self.backend  # noqa: B018
        return self._runner  # type: ignore[return-value]

    @property
    def scorer(self) -> Scorer:
        return self.runner.scorer

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
        anchors: Optional[Sequence[Any]] = None,
        group_ids: Optional[Sequence[Any]] = None,
        gather: bool = False,
    ) -> list[JudgeResult]:
        """Judge each (prompt, completion) pair; one `JudgeResult` per input, in input order.

        ``reference`` and ``rubric`` are one value for every row or a list with one value per row.
        With ``completions_b``, a pairwise protocol judges each row's pair once (the result's reward is
        the first completion's: 1 win, 0 loss, 0.5 tie with linear normalisation). Without it, pairwise
        and listwise protocols score the completions of each prompt against each other
        (`reward_judge.groups`): rows with the same prompt, reference and rubric form a group, judged by
        the ``pairing`` design in both orders and aggregated per ``aggregation``; each result's ``extra``
        holds its comparisons. ``group_ids`` partition the rows first (rows are grouped only with rows of
        the same id). ``anchors`` are the anchor responses of ``pairing="anchor"`` (one per row).
        ``gather`` judges groups across the processes of a ``torch.distributed`` run (every process must
        call at the same point; the TRL reward call sets it from ``gather_groups``).
        """
        if isinstance(completions_b, str):  # one text: the same second completion for every row
            completions_b = [completions_b] * len(completions)
        n = _check_batch(prompts, completions, completions_b)
        references = _per_row("reference", reference, n)
        rubrics = _per_row("rubric", rubric, n)
        if not any(p.uses_rubric for p in self.protocols):
            given = next((r for r in rubrics if r is not None), None)
            if given is not None:
                raise ValueError(f"protocol {self.protocol.name!r} has no rubric slot, but rubric="
                                 f"{str(given)[:80]!r} was given")
        if completions_b is None and is_groupwise(self.protocol):
            results = self._group_rewarder().score(prompts, completions, references=references, rubrics=rubrics,
                                                   anchors=anchors, group_ids=group_ids, gather=gather)
            self._account(results)
            return results
        renderer = self.renderer
        requests = [
            renderer.render(prompts[i], completions[i], reference=references[i], rubric=rubrics[i],
                            completion_b=completions_b[i] if completions_b is not None else None, index=i)
            for i in range(n)
        ]
        self.stats.calls += 1
        results = self._judge_requests(requests)
        self._account(results)
        return results

    def score_rubrics(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        rubrics: Sequence[RubricLike],
        *,
        reference: Union[None, str, Sequence[Optional[str]]] = None,
        anchors: Optional[Sequence[Any]] = None,
        group_ids: Optional[Sequence[Any]] = None,
        gather: bool = False,
    ) -> list[list[JudgeResult]]:
        """Judge every rollout on every rubric in one pass: ``results[j][i]`` is rubric ``j`` on rollout ``i``.

        All (rollout, rubric) requests go to the judge runner in one call, so they are batched together and
        a rollout's rubric variants, whose judge inputs share everything before the rubric, share that
        prefix's KV cache (the transformers backend's prefix tree, a server's prefix cache); each request
        is cached, deduplicated, retried and isolated on its own. Each result equals what a reward model
        built with that rubric gives. Group protocols (pairwise, listwise) judge each rubric's groups apart
        (``anchors``, ``group_ids`` and ``gather`` as in `score`). ``rubrics`` are the caller's own: names,
        `Rubric` objects, mappings or files (never a dataset's or a request's: those go through ``score``'s
        per-row ``rubric``, which never opens a file).

        Example:
            >>> helpful, harmless = rm.score_rubrics(["What is 2+2?"], ["4"], ["helpfulness", "harmlessness"])  # doctest: +SKIP
            >>> helpful[0].reward, harmless[0].reward                                                         # doctest: +SKIP
            (0.81, 0.93)
        """
        n = _check_batch(prompts, completions, None)
        if isinstance(rubrics, (str, bytes)) or not isinstance(rubrics, Sequence) or not rubrics:
            raise ValueError(f"rubrics must be a non-empty list of rubrics, got {str(rubrics)[:80]!r}")
        if not any(p.uses_rubric for p in self.protocols):
            raise ValueError(f"protocol {self.protocol.name!r} has no rubric slot, so it cannot judge rubrics "
                             f"{[str(r)[:40] for r in rubrics]}")
        references = _per_row("reference", reference, n)
        k = len(rubrics)
        resolved = [resolve_rubric(r) for r in rubrics]  # the caller's rubrics: a file path is loaded
        if is_groupwise(self.protocol):
            # each rubric's groups apart (the group key includes the rubric), all in one rewarder call
            ids = list(group_ids) if group_ids is not None else [None] * n
            if len(ids) != n:
                raise ValueError(f"group_ids must have one value per completion ({n}), got {len(ids)}")
            if anchors is not None and len(anchors) != n:
                raise ValueError(f"anchors must have one value per completion ({n}), got {len(anchors)}")
            rewarder = self._group_rewarder()
            flat = rewarder.score(list(prompts) * k, list(completions) * k, references=references * k,
                                  rubrics=[r for r in resolved for _ in range(n)],
                                  anchors=None if anchors is None else list(anchors) * k,
                                  group_ids=[(j, g) for j in range(k) for g in ids], gather=gather)
        else:
            if group_ids is not None or gather or anchors is not None:
                raise ValueError("anchors, group_ids and gather apply to group protocols (pairwise, listwise), not "
                                 f"to {self.protocol.name!r}")
            renderers = [self.renderer.with_rubric(r) for r in resolved]
            requests = [renderer.render(prompts[i], completions[i], reference=references[i], index=i)
                        for renderer in renderers for i in range(n)]
            self.stats.calls += 1
            flat = self._judge_requests(requests)
        self._account(flat, rubrics=k)
        return [flat[j * n:(j + 1) * n] for j in range(k)]

    def for_rubrics(self, rubrics: Sequence[RubricLike], *, names: Optional[Sequence[str]] = None) -> list[RubricReward]:
        """One TRL reward function per rubric, sharing one judge pass per batch (`reward_judge.rubric_rewards`).

        Pass them all to the trainer (TRL multi-objective GRPO: ``reward_weights``,
        ``multi_objective_aggregation``): the first one called on a batch judges every rubric of every
        rollout at once (`score_rubrics`), the others are served from that batch's results. ``names``
        are their ``__name__`` (TRL logs ``rewards/<name>/mean``); by default ``<reward name>-<rubric>``.

        Example:
            >>> rm = GenerativeRewardModel.from_pretrained("default", mode="direct")                 # doctest: +SKIP
            >>> rewards = rm.for_rubrics(["helpfulness", "harmlessness", "honesty"])                  # doctest: +SKIP
            >>> [f.__name__ for f in rewards]                                                         # doctest: +SKIP
            ['judge-prometheus-v2-helpfulness', 'judge-prometheus-v2-harmlessness', 'judge-prometheus-v2-honesty']
            >>> GRPOTrainer(model, reward_funcs=rewards, args=GRPOConfig(reward_weights=[1, 1, 0.5]), ...)  # doctest: +SKIP
        """
        return RubricRewards(self, rubrics, names).functions

    def _group_rewarder(self) -> GroupRewarder:
        return GroupRewarder(self.renderer, self.runner, self.config.group_options, self.config.reward_rule(),
                             seed=self.config.seed, stats=self.stats, mode=self.config.mode,
                             reference_column=self.config.reference_column)

    def _judge_requests(self, requests: list[JudgeRequest]) -> list[JudgeResult]:
        """One result per rendered request, in order: the judgeable ones through the runner in one call."""
        self.stats.rollouts += len(requests)
        self.stats.truncated += sum(1 for r in requests if r.truncated)
        self.stats.sanitized += sum(1 for r in requests if r.sanitized)
        judged = [i for i, r in enumerate(requests) if r.error is None]
        outcomes = dict(zip(judged, self.runner.run([requests[i] for i in judged]), strict=True))
        rule = self.config.reward_rule()
        results: list[JudgeResult] = []
        for i, request in enumerate(requests):
            if i in outcomes:
                judgment, cached = outcomes[i].judgment, outcomes[i].cached
            else:  # an input that cannot be judged (e.g. too long with truncation="fail") is a counted failure
                judgment, cached = Judgment.failure(request.error or "not judged", retryable=False), False
                self.stats.failure_reasons[request.error or "not judged"] += 1
            result = to_result(judgment, request.protocol, rule, mode=self.config.mode, cached=cached,
                               truncated=request.truncated)
            if request.sanitized:
                result.extra["sanitized"] = True
            results.append(result)
        return results

    def _account(self, results: list[JudgeResult], *, rubrics: int = 0) -> None:
        """Count the fallbacks, and raise under ``fallback="raise"``. ``rubrics``: the number of rubrics of a
        `score_rubrics` call, whose ``results`` are rubric-major; the error then names (rubric, row) pairs and
        holds one list per rubric."""
        failed = [i for i, r in enumerate(results) if r.fallback]
        if not failed:
            return
        self.stats.fallbacks += len(failed)
        self.stats.fallback_causes.update(results[i].fallback_cause or "unknown" for i in failed)
        reasons = Counter(results[i].error for i in failed)
        what = "(rubric, rollout) judgments" if rubrics else "rollouts"
        logger.warning("%d of %d %s got no valid judge answer and fell back to %r (%s)", len(failed), len(results),
                       what, self.config.fallback,
                       "; ".join(f"{count}x {reason}" for reason, count in reasons.most_common(3)))
        if self.config.fallback == FALLBACK_RAISE:
            if not rubrics:
                raise JudgeFailure(f"{len(failed)} of {len(results)} rollouts got no valid judge answer: rows "
                                   f"{failed[:20]}", results)
            n = len(results) // rubrics
            raise JudgeFailure(f"{len(failed)} of {len(results)} {what} got no valid judge answer: (rubric, row) "
                               f"{[divmod(i, n) for i in failed[:20]]}",
                               [results[j * n:(j + 1) * n] for j in range(rubrics)])

    __call__ = reward_call

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
        if not is_reloadable(self.judge):
            raise TypeError(
                "this reward model wraps an in-memory model and cannot be pickled; build it from a hub id, "
                "a local path or 'default' so the judge can be reloaded in another process"
            )
        state = dict(self.__dict__)
        # weights, connections and the stages built on them never travel: they are rebuilt where used
        state["_backend"] = state["_renderer"] = state["_runner"] = None
        return state

    def __repr__(self) -> str:
        judge = self.judge if isinstance(self.judge, str) else type(self.judge).__name__
        return (f"GenerativeRewardModel(judge={judge!r}, protocol={self.protocol.name!r}, mode={self.config.mode!r}, "
                f"backend={self.config.backend!r})")


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
    if completions_b is not None and (isinstance(completions_b, (bytes, Mapping)) or not _is_column(completions_b)):
        raise TypeError(f"completions_b must be one text or a list of {len(completions)} completions, got "
                        f"{type(completions_b).__name__}: {str(completions_b)[:80]!r}")
    if completions_b is not None and len(completions_b) != len(completions):
        raise ValueError(f"completions_b must have {len(completions)} items, got {len(completions_b)}")
    return len(prompts)


def _per_row(name: str, value: Any, n: int) -> list[Any]:
    """``value`` for each of ``n`` rows: one value for all, or a list (or array, or pandas Series) of ``n``."""
    if value is None or isinstance(value, (str, bytes, Mapping)) or not _is_column(value):
        values = [value] * n
    elif len(value) != n:
        raise ValueError(f"{name} must be one value or a list of {n} values (one per completion), got {len(value)}")
    else:
        values = list(value)
    if name == "reference":  # a missing value read by pandas is a float NaN: name the row, not just the value
        for i, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                missing = " (a missing value? give None for a row without a reference)" if v != v else ""
                raise TypeError(f"reference[{i}] must be a string or None, got {type(v).__name__}: {v!r}{missing}")
    return values


def _is_column(value: Any) -> bool:
    """A list, a tuple, a numpy array or a pandas Series: something with one entry per row."""
    return isinstance(value, Sequence) or (hasattr(value, "__len__") and hasattr(value, "__getitem__")
                                           and hasattr(value, "__iter__") and type(value).__name__ in ("ndarray", "Series"))
