"""Best-of-N / rejection sampling: deterministic choice, every candidate's score, streamed files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reward_judge.integrations.best_of_n import best_of_n, best_of_n_file, rank_candidates

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.unit
def test_ranking_is_deterministic():
    assert rank_candidates([0.5, None, 0.9, 0.9]) == [2, 3, 0, 1]  # ties: earlier first; unscored last
    assert rank_candidates([None, None]) == [0, 1]
    assert rank_candidates([0.0, -1.0]) == [0, 1]
    assert rank_candidates([0.5, 1.0, 0.2, 0.0], valid=[True, False, True, False]) == [0, 2, 1, 3]  # fallbacks last
    with pytest.raises(ValueError, match=r"valid must have one value per reward \(2\), got 1"):
        rank_candidates([0.5, 1.0], valid=[True])


@pytest.mark.unit
def test_a_numeric_fallback_ranks_after_every_judged_candidate(tmp_path):
    from tests._scripted import scripted_model

    judge = scripted_model(fallback=1.0, max_attempts=1)  # BREAK: the judge gives no valid answer, reward 1.0
    pick = best_of_n(["Q"], [["score=2", "BREAK", "score=4", "BREAK too"]], judge, n_best=3)[0]
    assert pick.rewards == [0.25, 1.0, 0.75, 1.0] and [r.fallback for r in pick.results] == [False, True, False, True]
    assert pick.chosen_indices == [2, 0, 1] and pick.chosen == ["score=4", "score=2", "BREAK"]
    source, target = tmp_path / "cands.jsonl", tmp_path / "best.jsonl"
    source.write_text(json.dumps({"prompt": "Q", "candidates": ["BREAK", "score=3"]}) + "\n")
    counts = best_of_n_file(source, target, judge, progress=False)
    assert json.loads(target.read_text())["chosen_indices"] == [1] and counts["unscored"] == 1


@pytest.mark.model
def test_best_of_n_judges_every_candidate(grading_judge):
    prompts = ["What is 2+2?", "Name the capital of France."]
    candidates = [["4", "5", "four", "22"], ["Paris", "Lyon"]]
    picks = best_of_n(prompts, candidates, grading_judge, n_best=2)
    assert len(picks) == 2
    for pick, cands in zip(picks, candidates):
        assert len(pick.rewards) == len(pick.results) == len(cands)
        assert pick.chosen_indices == rank_candidates(pick.rewards)[:2]
        assert pick.chosen == [cands[i] for i in pick.chosen_indices]
    # the same candidates judged alone give the same rewards (one batched call, nothing mixed up)
    alone = grading_judge.score(["What is 2+2?"] * 4, candidates[0])
    assert [r.reward for r in alone] == picks[0].rewards
    with pytest.raises(ValueError, match="n_best must be a positive integer, got 0"):
        best_of_n(prompts, candidates, grading_judge, n_best=0)
    with pytest.raises(ValueError, match=r"candidates\[1\] must be a non-empty list"):
        best_of_n(prompts, [["a"], []], grading_judge)


@pytest.mark.model
def test_file_is_streamed_in_chunks(tmp_path, grading_judge):
    source, target = tmp_path / "cands.jsonl", tmp_path / "best.jsonl"
    rows = [{"prompt": f"What is {i}+{i}?", "candidates": [str(2 * i), str(2 * i + 1)], "id": i} for i in range(5)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    calls = []
    original = grading_judge.score

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return original(*args, **kwargs)

    grading_judge.score = counting
    try:
        counts = best_of_n_file(source, target, grading_judge, n_best=1, chunk_size=2, progress=False)
    finally:
        del grading_judge.score
    assert calls == [4, 4, 2]  # 2 prompts x 2 candidates per chunk, never the whole file at once
    out = [json.loads(line) for line in target.read_text().splitlines()]
    assert [o["id"] for o in out] == list(range(5))
    for o in out:
        assert len(o["chosen"]) == 1 and len(o["rewards"]) == len(o["scores"]) == len(o["ok"]) == 2
        assert o["chosen"][0] == o["candidates"][o["chosen_indices"][0]]
    assert counts["prompts"] == 5 and counts["candidates"] == 10


@pytest.mark.process
def test_cli_best_of_n(tmp_path):
    source, target = tmp_path / "cands.jsonl", tmp_path / "best.jsonl"
    source.write_text(json.dumps({"prompt": "What is 2+2?", "candidates": ["4", "5", "four"]}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", "best-of-n", "--judge", "default", "--input",
                           str(source), "--output", str(target), "--n-best", "2", "--max-new-tokens", "8",
                           "--max-attempts", "1"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(target.read_text())
    assert len(row["chosen"]) == 2 and len(row["rewards"]) == 3
    assert row["chosen_indices"] == rank_candidates(row["rewards"])[:2]
    assert "chose 2 of each candidate list for 1 prompts" in proc.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "candidates": ["ok"]}\n{"prompt": "x", "candidates": "not a list"}\n')
    before = target.read_text()
    proc = subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", "best-of-n", "--input", str(bad), "--output",
                           str(target)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "bad.jsonl:2: 'candidates' must be a non-empty list of completions, got 'not a list'" in proc.stderr
    assert target.read_text() == before  # the whole file is checked first: nothing was judged or written
    assert not list(tmp_path.glob("*.partial"))
