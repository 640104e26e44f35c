"""`reward-judge serve` as a real subprocess on 127.0.0.1: micro-batching, no mix-ups, overload, drain.

The shared server requires an API key, as an exposed one should: every client here sends it.
"""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests._servers import ECHO_COMPLETION, concurrently, echo_prompt, metric, start_reward_server
from reward_judge.integrations.remote import RemoteRewardModel

pytestmark = pytest.mark.process


KEY = "test-server-key-81c3"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = start_reward_server(tmp_path_factory.mktemp("serve"), "--max-batch-size", "32", "--max-wait-ms", "100",
                               env={"REWARD_JUDGE_API_KEY": KEY})
    yield proc
    proc.stop()


def _run_clients(url: str, clients: int, per_client: int, **remote_options) -> tuple[dict[int, list], list]:
    """``clients`` threads, each with its own RemoteRewardModel, each sending ``per_client`` one-rollout requests."""
    answers: dict[int, list] = {}
    remotes = []
    errors: list[BaseException] = []

    def client(c: int) -> None:
        remote = RemoteRewardModel(url, **remote_options)
        remotes.append(remote)
        got = []
        try:
            for j in range(per_client):
                number = 100 + c * per_client + j
                got.append((number, remote([echo_prompt(number)], [ECHO_COMPLETION])))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        answers[c] = got

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors
    return answers, remotes


def test_eight_clients_each_get_exactly_their_own_rewards(server):
    before = httpx.get(server.url + "/metrics", headers=AUTH).text
    answers, remotes = _run_clients(server.url, clients=8, per_client=25, timeout=300, api_key=KEY)
    assert sorted(answers) == list(range(8))
    numbers = [n for c in answers.values() for n, _ in c]
    assert len(numbers) == 200 and len(set(numbers)) == 200  # none lost, none duplicated
    wrong = [(n, rewards) for c in answers.values() for n, rewards in c if rewards != [float(n)]]
    assert not wrong, f"rewards that are not their own request's: {wrong[:10]}"
    assert sum(r.stats["fallbacks"] for r in remotes) == 0
    after = httpx.get(server.url + "/metrics", headers=AUTH).text
    assert metric(after, "reward_judge_rollouts_total") - metric(before, "reward_judge_rollouts_total") == 200
    batches = metric(after, "reward_judge_batches_total") - metric(before, "reward_judge_batches_total")
    assert batches < 200 and metric(after, "reward_judge_batch_size_max") > 1  # concurrency became batch size
    assert 'reward_judge_request_latency_seconds_count{endpoint="score"}' in after


def test_native_score_returns_full_results_and_get_reward_follows_openrlhf(server):
    body = httpx.post(server.url + "/v1/score", json={"prompts": [echo_prompt(321), echo_prompt(654)],
                                                      "completions": [ECHO_COMPLETION] * 2},
                      headers=AUTH, timeout=120).json()
    assert [r["score"] for r in body["results"]] == [321, 654]
    assert all(r["ok"] and not r["fallback"] and r["raw"] for r in body["results"])
    prompt = echo_prompt(777)
    rewards = httpx.post(server.url + "/get_reward", json={"query": [prompt + ECHO_COMPLETION], "prompts": [prompt],
                                                           "labels": [""]}, headers=AUTH, timeout=120).json()
    assert rewards["rewards"] == [777.0] and rewards["extra_logs"]["judge_fallback"] == [0.0]


def test_bad_requests_name_the_field(server):
    r = httpx.post(server.url + "/v1/score", json={"prompts": ["a", "b"], "completions": ["x"]}, headers=AUTH, timeout=60)
    assert r.status_code == 422 and "same length" in r.text
    r = httpx.post(server.url + "/v1/score", json={"prompts": "a", "completions": ["x"]}, headers=AUTH, timeout=60)
    assert r.status_code == 422 and "prompts must be a list" in r.text
    # Bad rows found while rendering are the request's fault: 422 (clients do not retry it), neighbours unharmed.
    r = httpx.post(server.url + "/v1/score", json={"prompts": [123], "completions": ["x"]}, headers=AUTH, timeout=60)
    assert r.status_code == 422 and "prompts[0]" in r.text
    r = httpx.post(server.url + "/get_reward", json={"query": "text"}, headers=AUTH, timeout=60)
    assert r.status_code == 422 and "query" in r.text


def test_full_queue_answers_503_and_clients_back_off_then_succeed(tmp_path):
    with start_reward_server(tmp_path, "--max-batch-size", "2", "--max-queue", "2", "--max-wait-ms", "0",
                             "--retry-after", "1") as proc:
        # Direct burst: a full queue refuses with 503 and Retry-After.
        responses = concurrently(lambda i: httpx.post(proc.url + "/v1/score", json={
            "prompts": [echo_prompt(500 + i)], "completions": [ECHO_COMPLETION]}, timeout=120), 8)
        busy = [r for r in responses if r.status_code == 503]
        assert busy and all(r.headers["retry-after"] == "1" for r in busy)
        # The client honours Retry-After, retries and every request ends with its own reward.
        answers, remotes = _run_clients(proc.url, clients=8, per_client=2, timeout=300, max_retries=30)
        assert all(rewards == [float(n)] for c in answers.values() for n, rewards in c)
        assert sum(r.stats["retries"] for r in remotes) > 0 and sum(r.stats["fallbacks"] for r in remotes) == 0
        assert metric(httpx.get(proc.url + "/metrics").text, "reward_judge_rejected_total") > len(busy)


def test_shutdown_drains_requests_in_flight(tmp_path):
    proc = start_reward_server(tmp_path, "--max-batch-size", "4", "--max-wait-ms", "0")
    results: dict[int, httpx.Response] = {}

    def send(i: int) -> None:
        results[i] = httpx.post(proc.url + "/v1/score", json={"prompts": [echo_prompt(400 + i)] * 2,
                                                              "completions": [ECHO_COMPLETION] * 2}, timeout=300)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # requests are queued or being judged
    returncode = proc.stop(wait_s=300)  # SIGTERM: stop accepting, finish what was taken
    for t in threads:
        t.join(300)
    # uvicorn re-raises SIGTERM once it has shut down gracefully, so the exit is the signal's.
    assert returncode in (0, -signal.SIGTERM)
    assert sorted(results) == list(range(6))
    assert all(r.status_code == 200 and r.json()["rewards"] == [400.0 + i] * 2 for i, r in results.items())


def test_client_raises_on_rollouts_the_server_rejects(server):
    with pytest.raises(ValueError, match="prompts\\[0\\]"):
        RemoteRewardModel(server.url, timeout=60, api_key=KEY)([123], ["x"])


# The echo judge repeats the number its rubric names three times: each reward says which rubric it judged.
RUBRIC_ECHO = {"custom_name": "rubric-echo", "template": "{instruction}\n{rubric}{response}", "answer_pattern": r"(\d+)",
               "range": [0, 999]}


def test_score_with_a_list_of_rubrics_judges_every_rubric_in_one_batch(tmp_path):
    with start_reward_server(tmp_path, "--max-request-rows", "6", protocol=RUBRIC_ECHO, name="rubrics") as server:
        rubrics = [echo_prompt(n) for n in (11, 22, 33)]
        before = httpx.get(server.url + "/metrics").text
        body = httpx.post(server.url + "/v1/score", json={"prompts": ["Rate the answer.", "Rate this one."],
                                                          "completions": [ECHO_COMPLETION] * 2, "rubrics": rubrics},
                          timeout=300).json()
        assert body["rubrics"] == ["rubric0", "rubric1", "rubric2"]
        assert body["rewards"] == [[11.0, 22.0, 33.0], [11.0, 22.0, 33.0]]  # rewards[row][rubric]
        assert [[r["score"] for r in row] for row in body["results"]] == body["rewards"]
        after = httpx.get(server.url + "/metrics").text
        assert metric(after, "reward_judge_batches_total") - metric(before, "reward_judge_batches_total") == 1
        assert metric(after, "reward_judge_rollouts_total") - metric(before, "reward_judge_rollouts_total") == 6
        # the schema without rubrics is unchanged: one rubric per row
        body = httpx.post(server.url + "/v1/score", json={"prompts": ["Rate the answer."] * 2,
                                                          "completions": [ECHO_COMPLETION] * 2,
                                                          "rubric": [rubrics[0], rubrics[2]]}, timeout=300).json()
        assert body["rewards"] == [11.0, 33.0] and "rubrics" not in body
        r = httpx.post(server.url + "/v1/score", json={"prompts": ["a"], "completions": ["b"], "rubric": rubrics[0],
                                                       "rubrics": rubrics}, timeout=60)
        assert r.status_code == 422 and "not both" in r.text
        r = httpx.post(server.url + "/v1/score", json={"prompts": ["a"], "completions": ["b"], "rubrics": "x"}, timeout=60)
        assert r.status_code == 422 and "rubrics must be a non-empty list" in r.text
        r = httpx.post(server.url + "/v1/score", json={"prompts": ["a"] * 3, "completions": ["b"] * 3,
                                                       "rubrics": rubrics}, timeout=60)
        assert r.status_code == 413 and "3 x 3" in r.text  # 9 judged rows, over --max-request-rows 6
