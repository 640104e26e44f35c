"""Rebuild the excerpts in this folder from the full benchmark files (see SOURCES.md).

    python tests/data/eval/make_excerpts.py /work/shared/data

Auto-J's test set and its two prediction files are copied whole. The excerpts keep records unchanged
and in file order: the shortest Auto-J pair of each of its 8 groups (lines copied byte for byte), and the
shortest items per category (2 for MT-Bench and Vicuna, 3 per source for HHH-alignment), written as the Prometheus files are
(``json.dumps(..., indent=4)``), so that the live tests stay short on a CPU.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from reward_judge.eval.autoj_scenarios import SCENARIO_GROUP

HERE = Path(__file__).parent


def shortest(records: list[dict], group: str, text, per_group: int) -> list[dict]:
    keep = set()
    for name in dict.fromkeys(r[group] for r in records):
        members = sorted((k for k, r in enumerate(records) if r[group] == name), key=lambda k: (len(text(records[k])), k))
        keep.update(members[:per_group])
    return [r for k, r in enumerate(records) if k in keep]


def main(source: Path) -> None:
    for name in ("testdata_pairwise.jsonl", "pairwise_example_output.jsonl", "pairwise_exchange_example_output.jsonl"):
        shutil.copyfile(source / "autoj" / name, HERE / "autoj" / name)
    lines = (source / "autoj" / "testdata_pairwise.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    rows = [dict(json.loads(line), size=sum(len(json.loads(line)[k]) for k in ("prompt", "response 1", "response 2")),
                 group=SCENARIO_GROUP[json.loads(line)["scenario"]], line=k) for k, line in enumerate(lines)]
    short = [r["line"] for r in shortest(rows, "group", lambda r: "x" * r["size"], 1)]
    (HERE / "autoj" / "short_pairs.jsonl").write_text("".join(lines[k] for k in short), encoding="utf-8")
    for name, group, field, per in (("mt_bench_eval.json", "category", "instruction", 2),
                                    ("vicuna_eval.json", "category", "instruction", 2),
                                    ("hhh_alignment_eval.json", "source", "chosen_instruction", 3)):
        records = json.loads((source / "prometheus" / name).read_text(encoding="utf-8"))
        excerpt = shortest(records, group, lambda r: r[field], per)
        target = HERE / "prometheus" / name.replace(".json", "_excerpt.json")
        target.write_text(json.dumps(excerpt, indent=4), encoding="utf-8")
    shutil.copyfile(source / "LICENSE-prometheus-eval", HERE / "LICENSE-prometheus-eval")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
