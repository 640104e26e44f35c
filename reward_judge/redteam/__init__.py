"""Red-teaming a judge before training with it: fixed attacks against clean answers, and how much each moves the reward."""

from .attacks import (ATTACKS, BREAKER, BREAKER_ATTACKS, MASTER_KEY, MASTER_KEYS, PAIRWISE_PROBES, PLAIN, PROBE,
                      STRUCTURAL, Attack)
from .report import AttackOutcome, RedTeamReport, read_prompts, run_redteam

__all__ = ["ATTACKS", "Attack", "AttackOutcome", "BREAKER", "BREAKER_ATTACKS", "MASTER_KEY", "MASTER_KEYS",
           "PAIRWISE_PROBES", "PLAIN", "PROBE", "RedTeamReport", "STRUCTURAL", "read_prompts", "run_redteam"]
