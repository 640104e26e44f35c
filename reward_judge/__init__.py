"""reward-judge: generative judge models (Prometheus, Auto-J, keval, MT-Bench judges) as RLHF rewards.

Example:
    >>> from reward_judge import GenerativeRewardModel          # doctest: +SKIP
    >>> rm = GenerativeRewardModel.from_pretrained("default")    # doctest: +SKIP
    >>> rm(prompts=["What is 2+2?"], completions=["4"])          # doctest: +SKIP
"""

from .backends import GenerationParams, JudgeBackend, TransformersBackend
from .chat import ChatFormatter
from .config import JudgeConfig
from .embedded import EmbeddedJudgeMissing
from .normalize import normalize_score, normalize_winner
from .presets import Preset, get_preset, list_presets
from .protocols import CustomProtocol, JudgeProtocol, get_protocol, list_protocols
from .result import JudgeResult, Verdict
from .reward_model import GenerativeRewardModel, JudgeFailure
from .rubric import Rubric, get_rubric, list_rubrics

__version__ = "0.1.0"

__all__ = [
    "ChatFormatter", "CustomProtocol", "EmbeddedJudgeMissing", "GenerationParams", "GenerativeRewardModel",
    "JudgeBackend", "JudgeConfig", "JudgeFailure", "JudgeProtocol", "JudgeResult", "Preset", "Rubric",
    "TransformersBackend", "Verdict", "get_preset", "get_protocol", "get_rubric", "list_presets",
    "list_protocols", "list_rubrics", "normalize_score", "normalize_winner",
]
