"""Pairing designs: which completions of a group a pairwise judge compares.

A group's completions are first collapsed into *entrants* (identical completions are one entrant), put
in a canonical order that depends only on their text, so a design never depends on the order the
trainer passed the rollouts in. The designs and what each costs in judge calls for a group of G
distinct completions (both orders judged; half of it with ``both_orders=False``):

- ``round_robin``: every pair, G(G-1)/2 pairs, **G(G-1) calls** (8 -> 56, 16 -> 240);
- ``ring``: the entrants sit on a ring in a seeded pseudo-random order (a hash of ``seed`` and their
  text) and each meets its k nearest neighbours (``pairing_k``), G*k/2 pairs, **G*k calls**: a k-regular
  design that grows as G*k, not G^2 (when G*k is odd, some entrants meet k+1);
- ``anchor``: each completion against one anchor (a dataset column or a chosen member), **2G calls**.
"""

from __future__ import annotations

import hashlib
from typing import Optional

ROUND_ROBIN = "round_robin"
RING = "ring"
ANCHOR = "anchor"
PAIRINGS = (ROUND_ROBIN, RING, ANCHOR)
#: ``anchor="member:<i>"``: the i-th completion of each group (input order) is the anchor.
MEMBER_PREFIX = "member:"

Pair = tuple[int, int]


def round_robin(n: int) -> list[Pair]:
    """Every pair ``(i, j)``, ``i < j``, of ``n`` entrants.

    Example:
        >>> round_robin(3)
        [(0, 1), (0, 2), (1, 2)]
    """
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def ring_order(keys: list[str], seed: int) -> list[int]:
    """Entrant indices in their seeded ring order: sorted by a hash of ``seed`` and each entrant's key.

    The order depends on the texts and the seed only, never on input positions.

    Example:
        >>> sorted(ring_order(["a", "b", "c"], seed=0))
        [0, 1, 2]
    """
    def rank(k: int) -> str:
        return hashlib.sha256(f"{seed}\x00{keys[k]}".encode("utf-8", "surrogatepass")).hexdigest()

    return sorted(range(len(keys)), key=lambda k: (rank(k), keys[k]))


def ring(n: int, k: int, order: Optional[list[int]] = None) -> list[Pair]:
    """A k-regular ring design on ``n`` entrants: each meets the ``k // 2`` nearest on each side of the
    ring, and (odd ``k``) the one across it. ``order`` places the entrants on the ring (default 0..n-1).

    With ``n <= k + 1`` every pair is played (the round robin). Pairs come back as ``(i, j)``, ``i < j``.

    Example:
        >>> ring(5, 2)
        [(0, 1), (0, 4), (1, 2), (2, 3), (3, 4)]
        >>> len(ring(8, 3)), len(ring(8, 2)), len(ring(4, 3))
        (12, 8, 6)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"pairing_k must be a positive integer, got {k!r}")
    if n <= k + 1:
        return round_robin(n)
    place = order if order is not None else list(range(n))
    pairs: set[Pair] = set()
    offsets = list(range(1, k // 2 + 1)) + ([n // 2] if k % 2 else [])
    for p in range(n):
        for d in offsets:
            a, b = place[p], place[(p + d) % n]
            if a != b:
                pairs.add((min(a, b), max(a, b)))
    return sorted(pairs)


def judge_calls(pairing: str, group_size: int, k: int = 2, both_orders: bool = True) -> int:
    """Judge calls one group of ``group_size`` distinct completions costs under ``pairing`` (no retries, no cache).

    Example:
        >>> judge_calls("round_robin", 8), judge_calls("ring", 8, k=2), judge_calls("anchor", 8)
        (56, 16, 16)
    """
    orders = 2 if both_orders else 1
    if pairing == ROUND_ROBIN:
        return orders * len(round_robin(group_size))
    if pairing == RING:
        return orders * len(ring(group_size, k))
    if pairing == ANCHOR:
        return orders * group_size
    raise ValueError(f"pairing={pairing!r} is not one of {PAIRINGS}")


def member_anchor(anchor: str) -> Optional[int]:
    """The member index of ``anchor="member:<i>"``, or ``None`` when ``anchor`` names a column.

    Example:
        >>> member_anchor("member:0"), member_anchor("reference")
        (0, None)
    """
    if not anchor.startswith(MEMBER_PREFIX):
        return None
    text = anchor[len(MEMBER_PREFIX):]
    if not text.isdigit():
        raise ValueError(f"anchor={anchor!r}: expected a column name or 'member:<index>' with index >= 0")
    return int(text)
