"""Each refusal of a `reward-judge serve` that is safe to expose, against a real server process.

401 without the key (``/health`` stays open), the key accepted as a bearer token or ``?api_key=`` and
never printed in the access log, 413 once (with the limit named) for requests that can never fit,
503 + Retry-After only for "busy now", 400/422 naming the field the client sent, no CORS.
"""

from __future__ import annotations


import httpx
import pytest

from tests._servers import ECHO_COMPLETION, concurrently, echo_prompt, metric, start_reward_server
from reward_judge.integrations.remote import RemoteRewardModel

pytestmark = pytest.mark.process


KEY = "s3cret-key-4f1d9a"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # -v: uvicorn's access log is on, so the test can check it never prints the key
    proc = start_reward_server(tmp_path_factory.mktemp("secure"), "--api-key", KEY, "--max-queue", "6",
                               "--max-request-bytes", "20000", "--max-wait-ms", "0", verbose=1)
    yield proc
    proc.stop()


def _score(url: str, rows: int = 1, **kwargs) -> httpx.Response:
    body = {"prompts": [echo_prompt(300 + i) for i in range(rows)], "completions": [ECHO_COMPLETION] * rows}
    return httpx.post(url + "/v1/score", json=body, timeout=300, **kwargs)


def test_the_key_is_required_everywhere_but_health(server):
    health = httpx.get(server.url + "/health", timeout=30)
    assert health.status_code == 200 and health.json() == {"status": "ok", "queued": 0}  # no judge name for strangers
    assert "judge" in httpx.get(server.url + "/health", headers=AUTH, timeout=30).json()
    missing = _score(server.url)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.json()["detail"] and "?api_key=" in missing.json()["detail"]
    wrong = _score(server.url, headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong API key"
    assert _score(server.url, headers={"Authorization": KEY}).status_code == 401  # not a bearer token
    for path in ("/metrics", "/get_reward"):
        assert httpx.request("GET" if path == "/metrics" else "POST", server.url + path, timeout=30).status_code == 401
    assert httpx.get(server.url + "/docs", headers=AUTH, timeout=30).status_code == 404  # no interactive docs


def test_header_and_url_keys_work_and_the_url_key_is_never_logged(server):
    assert _score(server.url, headers=AUTH).json()["rewards"] == [300.0]
    assert httpx.post(f"{server.url}/v1/score?api_key={KEY}&x=1", json={"prompts": [echo_prompt(301)],
                      "completions": [ECHO_COMPLETION]}, timeout=300).json()["rewards"] == [301.0]
    assert _score(server.url, params={"api_key": "wrong-key-in-url"}).status_code == 401
    refused = metric(httpx.get(server.url + "/metrics", headers=AUTH, timeout=30).text,
                     'reward_judge_refused_total{reason="unauthorized"}')
    assert refused >= 1
    log = server.log.read_text()
    assert '"POST /v1/score?x=1 HTTP/1.1" 200' in log  # the access log is on, and prints the URL without the key
    assert KEY not in log and "wrong-key-in-url" not in log


def test_requests_that_can_never_fit_are_413_once_with_the_limit_named(server):
    too_many = _score(server.url, rows=7, headers=AUTH)  # the whole queue holds 6
    assert too_many.status_code == 413 and "retry-after" not in too_many.headers
    assert "7 rows" in too_many.json()["detail"] and "at most 6" in too_many.json()["detail"]
    assert "--max-queue" in too_many.json()["detail"]
    body = {"prompts": ["x" * 25000], "completions": ["y"]}
    too_big = httpx.post(server.url + "/v1/score", json=body, headers=AUTH, timeout=60)
    assert too_big.status_code == 413 and "20000 bytes" in too_big.json()["detail"]
    assert "--max-request-bytes" in too_big.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(30):
            yield b"x" * 1000

    chunked = httpx.post(server.url + "/v1/score", content=chunks(), headers=AUTH, timeout=60)
    assert chunked.status_code == 413
    # The client takes 413 as final: one request, no retries, a clear error.
    client = RemoteRewardModel(server.url, api_key=KEY, timeout=60, max_retries=5)
    with pytest.raises(ValueError, match="413"):
        client([echo_prompt(1)] * 7, [ECHO_COMPLETION] * 7)
    assert client.pool.retries == 0 and client.stats["fallbacks"] == 0
    # a value given once for every row is rendered into every row: 6 rows of one 5000-character reference are
    # 30000 characters of judge inputs from a 5 KB body (a 1 MB reference x 1024 rows took a server to 3.1 GB)
    broadcast = {"prompts": [echo_prompt(1)] * 6, "completions": [ECHO_COMPLETION] * 6, "reference": "r" * 5000}
    amplified = httpx.post(server.url + "/v1/score", json=broadcast, headers=AUTH, timeout=60)
    assert amplified.status_code == 413 and "once for every row counts once per row" in amplified.json()["detail"]
    assert "--max-request-bytes" in amplified.json()["detail"]
    assert metric(httpx.get(server.url + "/metrics", headers=AUTH, timeout=30).text,
                  'reward_judge_refused_total{reason="too_large"}') >= 5


def test_busy_is_503_with_retry_after_and_a_request_that_fits_later_succeeds(server):
    responses = concurrently(lambda i: _score(server.url, rows=4, headers=AUTH), 4)
    busy = [r for r in responses if r.status_code == 503]
    assert busy and all(r.headers["retry-after"] == "1" for r in busy)
    assert all(r.status_code in (200, 503) for r in responses)
    assert _score(server.url, rows=4, headers=AUTH).status_code == 200  # the same size fits once the queue drains


def test_malformed_requests_name_the_field_the_client_sent(server):
    def post(path: str, headers: dict = AUTH, **kwargs) -> httpx.Response:
        return httpx.post(server.url + path, headers=headers, timeout=60, **kwargs)

    cases = [
        ("/get_reward", {"query": "a text"}, 422, "query must be a list"),
        ("/get_reward", {"query": ["q"], "prompts": ["p", "p2"]}, 422, "prompts must be a list of 1"),
        ("/get_reward", {"query": ["q"]}, 422, "prompts is required"),
        ("/get_reward", {"query": ["q"], "prompts": ["q"], "labels": [{"answer": 1}]}, 422, "labels[0] must be a text"),
        ("/get_reward", {"query": ["q"], "prompts": ["q"], "labels": ["a", "b"]}, 422, "labels must be a list of 1"),
        ("/v1/score", {"prompts": ["a"], "completions": ["b"], "refrence": ["c"]}, 422, "'refrence'"),
        ("/v1/score", {"prompts": "a", "completions": ["b"]}, 422, "prompts must be a list"),
        ("/v1/score", {"prompts": [123], "completions": ["b"]}, 422, "prompts[0]"),
        ("/v1/score", [1, 2], 422, "must be a JSON object"),
    ]
    for path, body, status, words in cases:
        answer = post(path, json=body)
        assert answer.status_code == status and words in answer.json()["detail"], (path, body, answer.text)
    broken = post("/v1/score", content=b"{not json", headers={**AUTH, "content-type": "application/json"})
    assert broken.status_code == 400 and "not JSON" in broken.json()["detail"]


def test_no_cors_a_browser_on_another_origin_gets_no_permission(server):
    preflight = httpx.options(server.url + "/v1/score", headers={
        **AUTH, "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, timeout=30)
    assert preflight.status_code in (401, 405) and "access-control-allow-origin" not in preflight.headers
    simple = httpx.get(server.url + "/health", headers={"Origin": "https://evil.example"}, timeout=30)
    assert "access-control-allow-origin" not in simple.headers and "server" not in simple.headers


def test_clients_send_the_key_and_a_missing_key_is_a_clear_error(server, monkeypatch):
    assert RemoteRewardModel(server.url, api_key=KEY, timeout=300)([echo_prompt(302)], [ECHO_COMPLETION]) == [302.0]
    monkeypatch.setenv("REWARD_JUDGE_API_KEY", KEY)
    assert RemoteRewardModel(server.url, timeout=300)([echo_prompt(303)], [ECHO_COMPLETION]) == [303.0]
    monkeypatch.delenv("REWARD_JUDGE_API_KEY")
    keyless = RemoteRewardModel(server.url, timeout=60, max_retries=5, fallback=0.0)
    with pytest.raises(PermissionError, match="no key was sent"):
        keyless([echo_prompt(304)], [ECHO_COMPLETION])
    assert keyless.pool.retries == 0  # a refused key is not retried
    with pytest.raises(ValueError, match="api_key"):
        RemoteRewardModel(server.url, api_key="  ")
