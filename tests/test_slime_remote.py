"""slime's ``rm_remote`` through a real reward server process (a scripted judge behind ``create_app`` on 127.0.0.1).

Before, each sample was a ``/slime/reward`` request: the server answered a failed judgment with its bare fallback
number, which the client took for a verdict (the run's ``fallback_reward`` ignored, nothing counted); a sample's
``metadata["rubric"]`` was dropped (every row judged on the server's default rubric); and a group was never judged
as one group. Now a sample or a group is one ``/v1/score`` request.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._servers import ServerProcess, free_port, metric

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[1]
SERVER = ("import sys, uvicorn; sys.path.insert(0, {root!r}); from tests._scripted import scripted_model; "
          "from reward_judge.integrations.server import create_app; "
          "uvicorn.run(create_app(scripted_model(max_attempts=1{options})), host='127.0.0.1', port={port}, "
          "log_level='warning')")
RUBRIC = "Is it good?\nScore 1: bad score=1\nScore 2: b\nScore 3: c\nScore 4: d\nScore 5: e"


@dataclass
class Sample:
    prompt: Any
    response: str
    label: Any = None
    metadata: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def scripted_server(tmp_path_factory):
    with _server(tmp_path_factory, "") as server:
        yield server


def _server(tmp_path_factory: Any, options: str) -> ServerProcess:
    port = free_port()
    code = SERVER.format(root=str(ROOT), port=port, options=options)
    return ServerProcess([sys.executable, "-c", code], port, tmp_path_factory.mktemp("server") / "server.log")


def test_frameworks_labels_are_left_out_where_the_judge_has_no_reference_slot(tmp_path_factory):
    """OpenRLHF (/get_reward) and verl send their dataset's ground truths whatever the judge; a judge without a
    reference slot (Auto-J single) refused every request. /v1/score leaves them out when asked (fit_columns)."""
    options = ", protocol='autoj-single', rubric=None, answer_format='Rating: [[{score}]]'"
    with _server(tmp_path_factory, options) as server:
        answer = httpx.post(server.url + "/get_reward", json={"query": ["Q? score=7"], "prompts": ["Q? "],
                                                               "labels": ["4"]}, timeout=60)
        assert answer.status_code == 200 and answer.json()["rewards"] == [pytest.approx(2 / 3)]
        body = {"prompts": ["Q?"], "completions": ["score=7"], "reference": ["4"]}
        assert httpx.post(server.url + "/v1/score", json=body, timeout=60).status_code == 422
        fitted = httpx.post(server.url + "/v1/score", json=dict(body, fit_columns=True), timeout=60)
        assert fitted.status_code == 200 and fitted.json()["rewards"] == [pytest.approx(2 / 3)]
        # verl's remote functions, with the ground truth verl always passes
        from reward_judge.integrations.verl import compute_score_remote, compute_score_remote_batch

        one = compute_score_remote("s", "score=7", "4", {"question": "Q?"}, url=server.url)
        assert one["score"] == pytest.approx(2 / 3) and one["judge_fallback"] == 0.0
        batch = compute_score_remote_batch(["s", "s"], ["score=7", "score=4"], ["4", "9"],
                                           [{"question": "Q?"}, {"question": "R?"}], url=server.url)
        assert [r["score"] for r in batch] == [pytest.approx(2 / 3), pytest.approx(1 / 3)]
        assert all(r["judge_fallback"] == 0.0 for r in batch)


def test_rm_remote_sends_rubrics_flags_failures_and_judges_a_group_as_one_request(scripted_server, monkeypatch):
    from reward_judge.integrations import slime

    monkeypatch.setenv("REWARD_JUDGE_URL", scripted_server.url)
    monkeypatch.setenv("REWARD_JUDGE_FALLBACK_REWARD", "-1")
    monkeypatch.setenv("REWARD_JUDGE_JUDGE", "scripted-judge")
    slime.stats.clear()

    def requests() -> float:
        text = httpx.get(scripted_server.url + "/metrics", timeout=30).text
        try:
            return metric(text, 'reward_judge_requests_total{endpoint="score"}')
        except KeyError:  # none answered yet
            return 0.0

    before = requests()
    group = [Sample("Q1", "BREAK score=4"), Sample("Q2", "fine score=4", label="4"),
             Sample("Q3", "an answer score=5", metadata={"rubric": RUBRIC})]
    rewards = asyncio.run(slime.group_rm_remote(None, group))
    # the judge-breaker gets the run's fallback_reward, counted; the row's rubric reached the judge (its score=1
    # is read after the answer's score=5)
    assert rewards == [-1.0, 0.75, 0.0]
    assert slime.stats["fallbacks"] == 1 and slime.stats["samples"] == 3
    assert requests() == before + 1  # the group: one request, so a group protocol compares its samples
    assert asyncio.run(slime.rm_remote(None, Sample("Q", "fine score=2"))) == 0.25
