"""Judge protocols: the exact prompt each judge was trained on and how to read its answer."""

from __future__ import annotations

from typing import Any

from .autoj import AutoJPairwise, AutoJPairwiseZh, AutoJSingle, AutoJSingleZh
from .base import JudgeProtocol
from .custom import CustomProtocol
from .listwise import ListwiseProtocol
from .mtbench import KoBenchMath, KoBenchSingle, MTBenchMath, MTBenchPair, MTBenchSingle
from .prometheus import PrometheusV1, PrometheusV2, PrometheusV2Relative
from .reasoning import JudgeLRM, RMR1, RMR1Reasoning
from .rewardbench import RewardBenchFour, RewardBenchPair, RewardBenchRatings, RewardBenchRatingsTies
from .selene import SeleneAbsolute, SelenePairwise
from .skywork import SkyworkCritic
from .verifiers import GeneralVerifier, GenRM, GenRMPrompted, GenRMReference, MultiSubRM

_REGISTRY: dict[str, type[JudgeProtocol]] = {
    cls.name: cls
    for cls in (
        PrometheusV1, PrometheusV2, PrometheusV2Relative,
        AutoJSingle, AutoJPairwise, AutoJSingleZh, AutoJPairwiseZh,
        KoBenchSingle, KoBenchMath,
        MTBenchSingle, MTBenchMath, MTBenchPair,
        ListwiseProtocol,
        GenRM, GenRMPrompted, GenRMReference, GeneralVerifier, MultiSubRM,
        SkyworkCritic,
        SeleneAbsolute, SelenePairwise,
        RMR1, RMR1Reasoning, JudgeLRM,
        RewardBenchPair, RewardBenchRatings, RewardBenchRatingsTies, RewardBenchFour,
    )
}


def list_protocols() -> list[str]:
    """Names of the built-in protocols."""
    return list(_REGISTRY)


def get_protocol(name: str | JudgeProtocol, **options: Any) -> JudgeProtocol:
    """A protocol by name, with options such as ``message_split="user"``.

    Example:
        >>> get_protocol("prometheus-v1", message_split="task-as-system").message_split
        'task-as-system'
    """
    if isinstance(name, JudgeProtocol):
        return name.with_options(**options) if options else name
    if name not in _REGISTRY:
        raise ValueError(f"unknown protocol {name!r}; known protocols: {', '.join(_REGISTRY)}")
    return _REGISTRY[name](**options)


__all__ = ["JudgeProtocol", "CustomProtocol", "ListwiseProtocol", "list_protocols", "get_protocol"]
