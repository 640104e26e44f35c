"""reward-judge: generative judge models (Prometheus, Auto-J, keval, MT-Bench judges) as RLHF rewards.

Example:
    >>> from reward_judge import GenerativeRewardModel          # doctest: +SKIP
    >>> rm = GenerativeRewardModel.from_pretrained("default")    # doctest: +SKIP
    >>> rm(prompts=["What is 2+2?"], completions=["4"])          # doctest: +SKIP
"""

from typing import Any

from .backends import GenerationParams, JudgeBackend
from .backends.openai.options import OpenAIOptions
from .backends.transformers.options import TransformersOptions
from .cache import JudgeCache
from .chat import ChatFormatter
from .config import JudgeConfig
from .embedded import EmbeddedJudgeMissing
from .judge_input import JudgeInput
from .normalize import normalize_score, normalize_winner
from .pipeline import JudgePipeline
from .presets import Preset, get_preset, list_presets
from .protocols import CustomProtocol, JudgeProtocol, get_protocol, list_protocols
from .requests import JudgeRequest, RequestRenderer
from .result import JudgeResult, Verdict
from .rewarding import to_result
from .reward_model import GenerativeRewardModel, JudgeFailure
from .rubric import Rubric, get_rubric, list_rubrics
from .scoring import Judgment, Scorer
from .stats import JudgeStats

__version__ = "0.1.0"

__all__ = [
    "ChatFormatter", "CustomProtocol", "EmbeddedJudgeMissing", "GenerationParams", "GenerativeRewardModel",
    "JudgeBackend", "JudgeCache", "JudgeConfig", "JudgeFailure", "JudgeInput", "JudgePipeline", "JudgeProtocol",
    "JudgeRequest", "JudgeResult", "JudgeStats", "Judgment", "OpenAIBackend", "OpenAIOptions", "Preset",
    "RequestRenderer", "Rubric", "Scorer", "TransformersBackend", "TransformersOptions", "Verdict", "get_preset",
    "get_protocol", "get_rubric", "list_presets", "list_protocols", "list_rubrics", "normalize_score",
    "normalize_winner", "to_result",
]


def __getattr__(name: str) -> Any:
    # backend classes load on first use (see reward_judge.backends)
    if name in ("TransformersBackend", "OpenAIBackend"):
        from . import backends

        return getattr(backends, name)
    raise AttributeError(name)
