"""A listwise group split across two real processes (gloo), as ``gather=True`` judges it in a multi-GPU GRPO run.

Each process used to seed the order it showed the judge from its own call counter; one call more on one rank
(a rank-0-only check) made the ranks build different requests, and verdicts matched by position landed on the
wrong completion: rank 1's "delta score=7" got alpha's 9.0, with ok=True. And ``for_rubrics`` on a pairwise
protocol judged each rank's half of a group alone (1.0/0.0 where the gathered group gives 0.833/0.167).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests._servers import free_port

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[1]
COMPLETIONS = ["alpha score=9", "beta score=2", "gamma score=5", "delta score=7"]


def _worker(rank: int, port: int, out: str) -> None:
    sys.path.insert(0, str(ROOT))
    import torch.distributed as dist

    from tests._scripted import scripted_model

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        rm = scripted_model(protocol="listwise", mode="generate", max_new_tokens=64, max_attempts=1)
        if rank == 0:
            rm.score(["warm-up"], ["w score=1"])  # one call more on rank 0 only
        mine = COMPLETIONS[2 * rank: 2 * rank + 2]
        results = rm.score(["Q"] * 2, mine, gather=True)
        Path(out, f"rank{rank}.json").write_text(json.dumps([[r.score, r.ok] for r in results]))
        # one GRPO group of 4 split 2/2 across the ranks, as TRL calls a reward function and a rubric reward
        from types import SimpleNamespace

        pairwise = scripted_model(mode="generate", protocol="prometheus-v2-relative", max_attempts=1)
        group = ["strong one winner=B", "weak one winner=A", "strong two winner=B", "weak two winner=A"]
        call = dict(prompts=["Compare."] * 2, completions=group[2 * rank: 2 * rank + 2], completion_ids=None,
                    trainer_state=SimpleNamespace(global_step=0))
        single = pairwise(**call)
        (helpful,) = pairwise.for_rubrics(["helpfulness"])
        Path(out, f"pairwise{rank}.json").write_text(json.dumps({"single": single, "rubric": helpful(**call)}))
    finally:
        dist.destroy_process_group()


def test_each_rank_gets_its_own_members_scores_whatever_calls_it_made_alone(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=2)
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert got == [[[9.0, True], [2.0, True]], [[5.0, True], [7.0, True]]]
    for r in (0, 1):  # the rubric reward gathers the group as the reward model's own call does
        pairwise = json.loads((tmp_path / f"pairwise{r}.json").read_text())
        assert pairwise["rubric"] == pairwise["single"] == pytest.approx([5 / 6, 1 / 6])
