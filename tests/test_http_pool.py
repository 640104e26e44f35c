"""Retry policy, URL lists and batcher limits: the parts of serving that need no process."""

from __future__ import annotations

import pytest

from reward_judge.backends.http_pool import RetryPolicy, normalize_urls
from reward_judge.integrations.batcher import MicroBatcher

pytestmark = pytest.mark.unit


def test_backoff_grows_is_capped_and_honours_retry_after():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    for retry in range(1, 10):
        assert 0 <= policy.delay(retry, None) <= min(4.0, 0.5 * 2 ** (retry - 1))
    assert 2.0 <= policy.delay(1, 2.0) <= 2.5  # server's Retry-After plus at most 25% jitter
    assert policy.delay(1, 60.0) <= 4.0 * 1.25  # never longer than the cap


@pytest.mark.parametrize("bad", [dict(max_attempts=0), dict(backoff_base=-1), dict(breaker_failures=0)])
def test_retry_policy_rejects_bad_values(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        RetryPolicy(**bad)


def test_url_lists():
    assert normalize_urls("http://a:1/, http://b:2") == ["http://a:1", "http://b:2"]
    assert normalize_urls(["https://x/"]) == ["https://x"]
    with pytest.raises(ValueError, match="'a:1'"):
        normalize_urls("a:1")
    with pytest.raises(ValueError, match="at least one"):
        normalize_urls([])


@pytest.mark.parametrize("bad", [dict(max_batch_size=0), dict(max_queue=-1), dict(max_wait_ms=-5)])
def test_batcher_rejects_bad_limits(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        MicroBatcher(object(), **bad)
