"""Which echoed row predicts an answer token: the check that picks it tolerates kernel noise, not a wrong row."""

from __future__ import annotations

import pytest

from reward_judge.backends.http_pool import EndpointError
from reward_judge.backends.openai.backend import _echoed_continuation

pytestmark = pytest.mark.unit


def answer(tokens, values, tops):
    return {"choices": [{"logprobs": {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops}}]}


NODE = {"]": -1.56, ".": -1.829}  # the node's own next-token read (a one-token request)


def test_a_row_a_tenth_of_a_nat_off_is_still_the_aligned_one():
    # llama.cpp's echoed prefill and its cached one-token read differ by ~0.1 nats: the row is still clearly the one
    tops = [{"\n": -1.1, " ": -2.6}, {"]": -1.438, ".": -1.885, ",": -3.2}, {"\n": -0.8}]
    value = _echoed_continuation(answer(["Rating", "]", "\n"], [None, -1.438, -0.8], tops), ["]"], NODE,
                                 "http://judge", 20)
    assert value == pytest.approx(-1.438)


def test_rows_equally_close_to_the_node_are_refused():
    tops = [{"]": -1.6, ".": -1.8}, {"]": -1.5, ".": -1.85}, {"\n": -0.8}]
    with pytest.raises(EndpointError, match="match neither alignment"):
        _echoed_continuation(answer(["x", "]", "\n"], [None, -1.5, -0.8], tops), ["]"], NODE, "http://judge", 20)


def test_a_row_far_from_the_node_is_refused():
    tops = [{"\n": -1.1}, {"]": -0.2, ".": -3.9}, {"\n": -0.8}]
    with pytest.raises(EndpointError, match="match neither alignment"):
        _echoed_continuation(answer(["x", "]", "\n"], [None, -0.2, -0.8], tops), ["]"], NODE, "http://judge", 20)
