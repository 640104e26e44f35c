"""Candidate answers as token continuations of a judge input (shared by every backend that reads log-probs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..judge_input import JudgeInput, encode_all


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix that every row starts with.

    Example:
        >>> common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]])
        2
    """
    if not rows:
        return 0
    first = list(rows[0])
    n = min(len(r) for r in rows)
    for row in rows[1:]:
        other = row if isinstance(row, list) else list(row)
        if first[:n] == other[:n]:
            continue
        # first[:lo] == other[:lo] and first[:hi] != other[:hi]: halve the gap with slice
        # comparisons (run in C), about n element comparisons in all instead of a Python loop
        lo, hi = 0, n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if first[lo:mid] == other[lo:mid]:
                lo = mid
            else:
                hi = mid
        n = lo
        if n == 0:
            break
    return n


def candidate_tokens(tokenizer: Any, context: JudgeInput, candidates: Sequence[str]) -> tuple[list[int], list[list[int]]]:
    """(context ids, continuation ids per candidate), split where the candidates' tokenisations part.

    Each ``context + candidate`` is tokenised as a whole (the judge's own tokenisation of its
    answer); the shared part, cut back to no further than the context alone, is the context.

    Example:
        >>> candidate_tokens(tokenizer, JudgeInput("Rating: [["), ["9]]", "10]]"])   # doctest: +SKIP
        ([49, 1236, 42, 5176], [[39, 4047], [33, 32, 4047]])
    """
    return candidate_tokens_all(tokenizer, [context], candidates)[0]


def candidate_tokens_all(tokenizer: Any, contexts: Sequence[JudgeInput],
                         candidates: Sequence[str]) -> list[tuple[list[int], list[list[int]]]]:
    """`candidate_tokens` of every context, with one tokenizer call for all of them (a fast tokenizer encodes a
    batch in parallel: for 256 judge inputs and 10 candidates that is one call instead of 256)."""
    texts = [text for context in contexts for text in (context, *(context.extend(c) for c in candidates))]
    encoded = encode_all(tokenizer, texts)
    width = 1 + len(candidates)
    rows = []
    for k in range(len(contexts)):
        context_ids, *full = encoded[k * width:(k + 1) * width]
        shared = min(common_prefix_length([context_ids, *full]), len(context_ids))
        continuations = [ids[shared:] for ids in full]
        for candidate, ids in zip(candidates, continuations, strict=True):
            if not ids:
                raise ValueError(f"candidate answer {candidate!r} adds no token to the judge input")
        rows.append((list(full[0][:shared]), continuations))
    return rows


Prefix = tuple[int, ...]


@dataclass(frozen=True)
class NextTokenRead:
    """One read of a trie walk: the log-probabilities of ``tokens`` as the next token after ``prompt``.

    ``prompt`` is the context followed by ``prefix`` (the candidate tokens already walked).
    """

    prompt: list[int]
    prefix: Prefix
    tokens: tuple[int, ...]


class CandidateTrie:
    """The token trie of one context's candidate continuations, read one next-token distribution per node.

    Every node that some candidate continues from (the context itself, then the context followed by each
    proper prefix of a candidate's tokens) is one read of the log-probabilities of its children; a
    candidate's log-probability is the sum of the reads along its path, which is exactly the teacher-forced
    sum over its tokens. ``1]]``, ``2]]`` ... ``10]]`` (tokens ``1 ]]``, ``2 ]]`` ... ``1 0 ]]``) are 11
    reads at three depths. An engine with a prefix cache computes the context once: every read below the
    root extends a prompt it has already seen (no prompt log-probabilities are needed, which vLLM serves
    only without its prefix cache).

    Example:
        >>> trie = CandidateTrie([7, 8], [[1, 9], [2, 9], [1, 0, 9]])
        >>> [(r.prefix, r.tokens) for r in trie.reads(0)], [(r.prefix, r.tokens) for r in trie.reads(1)]
        ([((), (1, 2))], [((1,), (9, 0)), ((2,), (9,))])
        >>> for read in trie.reads(0) + trie.reads(1) + trie.reads(2):
        ...     trie.record(read.prefix, {t: -1.0 for t in read.tokens})
        >>> trie.totals()
        [-2.0, -2.0, -3.0]
    """

    def __init__(self, context: Sequence[int], continuations: Sequence[Sequence[int]]):
        self.context = list(context)
        self.continuations = [tuple(ids) for ids in continuations]
        for ids in self.continuations:
            if not ids:
                raise ValueError("a candidate continuation has no token")
        self.children: dict[Prefix, tuple[int, ...]] = {}
        for ids in self.continuations:
            for depth in range(len(ids)):
                prefix, token = ids[:depth], ids[depth]
                known = self.children.get(prefix, ())
                if token not in known:
                    self.children[prefix] = known + (token,)
        self._read: dict[Prefix, dict[int, float]] = {}

    def reads(self, depth: int, *, deeper: bool = False) -> list[NextTokenRead]:
        """The nodes ``depth`` tokens below the context (with ``deeper``, that far or further) not read yet, as
        reads, in the order candidates reach them."""
        return [NextTokenRead(self.context + list(prefix), prefix, tokens)
                for prefix, tokens in self.children.items()
                if (len(prefix) >= depth if deeper else len(prefix) == depth) and prefix not in self._read]

    def record(self, prefix: Prefix, logprobs: Mapping[int, float]) -> None:
        """Store the next-token log-probabilities read at node ``prefix`` (each child must be there)."""
        missing = [t for t in self.children[prefix] if t not in logprobs]
        if missing:
            raise ValueError(f"the read at candidate prefix {list(prefix)} lacks tokens {missing}")
        self._read[prefix] = {t: float(logprobs[t]) for t in self.children[prefix]}

    def totals(self) -> list[float]:
        """Each candidate's log-probability: the sum of the reads along its path."""
        return [sum(self._read[ids[:d]][ids[d]] for d in range(len(ids))) for ids in self.continuations]


def walk_candidates(rows: Sequence[tuple[list[int], list[list[int]]]],
                    read: Callable[[list[NextTokenRead]], list[Mapping[int, float]]]) -> list[list[float]]:
    """Log-probability of each row's continuations (``rows``: context ids, continuation ids) by trie walks.

    Example:
        >>> import math
        >>> def uniform(reads):  # a "model" that gives every token probability 1/4
        ...     return [{t: math.log(0.25) for t in r.tokens} for r in reads]
        >>> [[round(math.exp(v), 4) for v in row] for row in walk_candidates([([5], [[1], [2, 3]])], uniform)]
        [[0.25, 0.0625]]
    """
    tries = [CandidateTrie(context, continuations) for context, continuations in rows]
    walk_tries(tries, read)
    return [trie.totals() for trie in tries]


def walk_tries(tries: Sequence[CandidateTrie], read: Callable[[list[NextTokenRead]], list[Mapping[int, float]]]) -> None:
    """Read every node of ``tries`` not read yet, all tries together, in two rounds.

    ``read`` gets a round's nodes at once (one engine call, one batch) and returns, per read, the
    log-probabilities of its tokens. The first round is the roots (each context's own next-token read),
    which puts every context in an engine's prefix cache; the second is every deeper node of every trie,
    whatever its depth: a node's prompt is known without the reads above it, and each one extends a
    context the first round computed, so the prefix cache serves it. Two rounds, not one per depth: ``10]]``
    costs no third round trip.

    Example:
        >>> rounds = []
        >>> def record(reads):
        ...     rounds.append(sorted(r.prefix for r in reads))
        ...     return [{t: -1.0 for t in r.tokens} for r in reads]
        >>> walk_tries([CandidateTrie([7], [[1, 9], [2, 9], [1, 0, 9]])], record)
        >>> rounds
        [[()], [(1,), (1, 0), (2,)]]
    """
    for batch in trie_rounds(tries):
        record_round(tries, batch, read([r for _, r in batch]))


def record_round(tries: Sequence[CandidateTrie], batch: Sequence[tuple[int, NextTokenRead]],
                 answers: Sequence[Mapping[int, float]]) -> None:
    """Store one round's answers (one per read of ``batch``, as `trie_rounds` gives it) in their tries."""
    if len(answers) != len(batch):
        raise RuntimeError(f"the engine returned {len(answers)} next-token reads for {len(batch)} asked")
    for (k, r), logprobs in zip(batch, answers, strict=True):
        tries[k].record(r.prefix, logprobs)


def trie_rounds(tries: Sequence[CandidateTrie]) -> list[list[tuple[int, NextTokenRead]]]:
    """The unread nodes of ``tries`` as `walk_tries` reads them: the roots, then every deeper node (empty rounds
    left out), each read with the index of its trie.

    Example:
        >>> [[(k, r.prefix) for k, r in batch] for batch in trie_rounds([CandidateTrie([7], [[1], [2]]),
        ...                                                              CandidateTrie([8], [[1, 9]])])]
        [[(0, ()), (1, ())], [(1, (1,))]]
    """
    rounds = [[(k, r) for k, trie in enumerate(tries) for r in trie.reads(0)],
              [(k, r) for k, trie in enumerate(tries) for r in trie.reads(1, deeper=True)]]
    return [batch for batch in rounds if batch]
