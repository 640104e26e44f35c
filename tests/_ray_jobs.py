"""Ray driver programs the Ray tests run in their own processes (the test process stays out of the cluster, so the
tests after it can fork freely). ``python -m tests._ray_jobs score-dataset ADDRESS IN.jsonl CACHE OUT.json OPTIONS``
judges the rows of IN with `score_dataset` (one replica) and writes the scored rows as JSON."""

from __future__ import annotations

import json
import sys


def score_dataset_job(address: str, source: str, cache: str, target: str, options: str) -> None:
    import ray

    from reward_judge.integrations.ray_data import score_dataset

    ray.init(address=address, include_dashboard=False, logging_level="WARNING")
    rows = [json.loads(line) for line in open(source, encoding="utf-8") if line.strip()]
    scored = score_dataset(ray.data.from_items(rows), "default", num_replicas=1, batch_size=3, cache=cache,
                           **json.loads(options))
    out = []
    for row in scored.iter_rows():
        row = dict(row)
        if row.get("distribution") is not None:  # an Arrow map reads back as (key, value) pairs
            row["distribution"] = dict(row["distribution"])
        out.append(row)
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(out, handle, ensure_ascii=False)
    ray.shutdown()


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command != "score-dataset":
        raise SystemExit(f"unknown job {command!r}")
    score_dataset_job(*arguments)
