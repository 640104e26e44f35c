"""Shared fixtures: the embedded judge is loaded once per test session."""

from __future__ import annotations

import pytest

from reward_judge import CustomProtocol, GenerativeRewardModel

# Prompts the 135M embedded judge completes with a number (it ignores Prometheus' answer format):
# plain text ending where the grade goes, so the next tokens are the grade. Honest, not a mock: the
# model still chooses the number, and it sometimes answers out of range (10), which must count as a
# failure. They are short, so tests stay fast on 2 CPU cores.
GRADE_PROTOCOL = CustomProtocol(
    custom_name="grade-1-9",
    template="Question: {instruction}\nAnswer: {response}\nGrade of the answer from 1 (wrong) to 9 (right): ",
    answer_pattern=r"^\s*(\d+)",
    range=(1, 9),
)
DIGIT = CustomProtocol(
    custom_name="digit-1-9",
    template="Question: {instruction}\nAnswer: {response}\nOn a scale of 1 to 9, the answer's score is",
    answer_pattern=r"(\d)",
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


@pytest.fixture(scope="session")
def judge_backend(default_judge):
    """The real embedded judge's backend, shared by every reward model of the session."""
    return default_judge.backend


@pytest.fixture
def make_rm(judge_backend):
    """Build a reward model on the shared backend with the digit protocol and any options."""

    def make(**options):
        options.setdefault("protocol", DIGIT)
        options.setdefault("chat_format", "raw")
        options.setdefault("max_new_tokens", 4)
        return GenerativeRewardModel.from_pretrained(judge_backend, **options)

    return make
