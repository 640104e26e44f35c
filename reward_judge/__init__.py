"""reward-judge: generative judge models (Prometheus, Auto-J, keval, MT-Bench judges) as RLHF rewards.

Example:
    >>> from reward_judge import GenerativeRewardModel          # doctest: +SKIP
    >>> rm = GenerativeRewardModel.from_pretrained("default")    # doctest: +SKIP
    >>> rm(prompts=["What is 2+2?"], completions=["4"])          # doctest: +SKIP
"""

from typing import Any

from .backends import (BackendContext, BackendError, BackendOptions, BackendSpec, GenerationParams, JudgeBackend,
                       backend_names, get_backend, register_backend)
from .backends.openai.options import OpenAIOptions
from .backends.transformers.options import TransformersOptions
from .cache import JudgeCache
from .chat_format import ChatFormatter
from .config import JudgeConfig
from .embedded import EmbeddedJudgeMissing
from .groups import GroupOptions
from .judge_input import JudgeInput
from .normalize import normalize_score, normalize_winner
from .presets import Preset, get_preset, list_presets
from .protocols import CustomProtocol, JudgeProtocol, get_protocol, list_protocols
from .rendering import JudgeRequest, RequestRenderer
from .result import JudgeResult
from .reward_model import GenerativeRewardModel, JudgeFailure
from .rewarding import RewardRule, to_result
from .rubric import Rubric, get_rubric, list_rubrics
from .runner import JudgeRunner
from .scoring import AttemptPlan, Scorer
from .stats import JudgeStats
from .verdicts import Judgment, Outcome, Verdict

__version__ = "0.1.0"

__all__ = [
    "AttemptPlan", "BackendContext", "BackendError", "BackendOptions", "BackendSpec", "ChatFormatter", "CustomProtocol",
    "EmbeddedJudgeMissing", "GenerationParams", "GenerativeRewardModel", "GroupOptions", "JudgeBackend", "JudgeCache",
    "JudgeConfig", "JudgeFailure", "JudgeInput", "JudgeProtocol", "JudgeRequest", "JudgeResult", "JudgeRunner",
    "JudgeStats", "Judgment", "OpenAIBackend", "OpenAIOptions", "Outcome", "Preset", "RequestRenderer", "RewardRule",
    "Rubric", "Scorer", "TransformersBackend", "TransformersOptions", "Verdict", "backend_names", "get_backend",
    "get_preset", "get_protocol", "get_rubric", "list_presets", "list_protocols", "list_rubrics", "normalize_score",
    "normalize_winner", "register_backend", "to_result",
]


def __getattr__(name: str) -> Any:
    # backend classes load on first use (see reward_judge.backends)
    if name in ("TransformersBackend", "OpenAIBackend"):
        from . import backends

        return getattr(backends, name)
    raise AttributeError(name)
