"""Shared fixtures: the embedded judge is loaded once per test session."""

from __future__ import annotations

import pytest

from reward_judge import CustomProtocol, GenerativeRewardModel

# A grading prompt the 135M embedded judge completes with a number (it ignores Prometheus' format):
# plain text ending in "Grade ...: ", so the next token is the grade. Honest, not a mock: the model
# still chooses the number, and it sometimes answers out of range (10), which must count as a failure.
GRADE_PROTOCOL = CustomProtocol(
    custom_name="grade-1-9",
    template="Question: {instruction}\nAnswer: {response}\nGrade of the answer from 1 (wrong) to 9 (right): ",
    answer_pattern=r"^\s*(\d+)",
    range=(1, 9),
)


@pytest.fixture(scope="session")
def default_judge() -> GenerativeRewardModel:
    """The embedded judge with its default preset (Prometheus 2 prompt), short answers for speed."""
    return GenerativeRewardModel.from_pretrained("default", max_new_tokens=24)


@pytest.fixture(scope="session")
def grading_judge(default_judge) -> GenerativeRewardModel:
    """The same loaded weights behind a prompt the tiny model answers with a number."""
    from reward_judge import JudgeConfig

    config = JudgeConfig(protocol=GRADE_PROTOCOL, chat_format="raw", max_new_tokens=6, max_attempts=2)
    return GenerativeRewardModel(default_judge.backend, config, judge="default", name="grade-judge")
