"""Shared fixtures: the embedded judge is loaded once per test session."""

from __future__ import annotations

import pytest

from reward_judge import GenerativeRewardModel
from reward_judge.protocols import CustomProtocol

# A short prompt the embedded judge completes with a digit, so tests get parsed scores honestly
# (and run fast: a Prometheus prompt is ~1000 tokens on 2 shared CPU cores).
DIGIT = CustomProtocol(
    custom_name="digit-1-9",
    template="Question: {instruction}\nAnswer: {response}\nOn a scale of 1 to 9, the answer's score is",
    answer_pattern=r"(\d)",
    range=(1, 9),
)


@pytest.fixture(scope="session")
def judge_backend():
    """The real embedded judge's backend, shared by every reward model of the session."""
    return GenerativeRewardModel.from_pretrained("default", protocol=DIGIT, chat_format="raw", max_new_tokens=4).backend


@pytest.fixture
def make_rm(judge_backend):
    """Build a reward model on the shared backend with the digit protocol and any options."""

    def make(**options):
        options.setdefault("protocol", DIGIT)
        options.setdefault("chat_format", "raw")
        options.setdefault("max_new_tokens", 4)
        return GenerativeRewardModel.from_pretrained(judge_backend, **options)

    return make
