"""The processes of a multi-process training run, seen from a reward function.

TRL (through accelerate) runs one process per device and calls every reward function on every process
at the same step, each with its own slice of the batch; a GRPO group can be split across them. When
``torch.distributed`` is initialised with more than one process, the group layer gathers every
process's rows (``all_gather_object``), judges each pair once across all processes (each judges its
share of the unique requests) and gathers the verdicts, so every process sees whole groups and returns
the rewards of its own rows. This works on the gloo (CPU) and NCCL backends alike.
"""

from __future__ import annotations

from typing import Any


def process_group() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) when ``torch.distributed`` is not initialised.

    Example:
        >>> process_group()
        (0, 1)
    """
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0, 1
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def all_gather(value: Any, world: int) -> list[Any]:
    """``value`` from every process, in rank order (every process must call this at the same point)."""
    if world == 1:
        return [value]
    import torch.distributed as dist

    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, value)
    return gathered


def share(count: int, rank: int, world: int) -> range:
    """The contiguous slice of ``count`` items that process ``rank`` handles (sizes differ by at most one).

    Example:
        >>> [list(share(5, r, 2)) for r in range(2)]
        [[0, 1, 2], [3, 4]]
    """
    base, extra = divmod(count, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))
