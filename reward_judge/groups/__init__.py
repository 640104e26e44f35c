"""Group rewards: a group's completions judged against each other (pairwise, both orders) or together (listwise).

GRPO's advantage is a completion's reward relative to the other completions of its prompt; a pairwise
judge answers exactly that question. This layer sits above the scoring pipeline: it plans pair (or
list) requests per group, runs them through the reward model's one pipeline, and aggregates the
verdicts into one reward per completion.

- `reward_judge.groups.grouping`: rows -> groups -> entrants (identical completions are one entrant).
- `reward_judge.groups.pairing`: round robin, the budgeted ring design, anchors; their judge-call costs.
- `reward_judge.groups.combine`: both orders of a pair -> one soft outcome, position consistency.
- `reward_judge.groups.aggregate`: win rate and Bradley-Terry.
- `reward_judge.groups.pairwise` / `listwise`: requests of a batch and the results of their verdicts.
- `reward_judge.groups.rewarder`: `GroupRewarder`, dedup and the split across processes.
- `reward_judge.groups.options`: `GroupOptions`, the options of this layer.
"""

from .aggregate import AGGREGATIONS, bradley_terry, expected_win_rates, win_rates
from .combine import OrderVerdict, PairOutcome, combine
from .options import GroupOptions
from .pairing import PAIRINGS, judge_calls, ring, round_robin
from .rewarder import GroupRewarder, is_groupwise

__all__ = ["AGGREGATIONS", "GroupOptions", "GroupRewarder", "OrderVerdict", "PAIRINGS", "PairOutcome", "bradley_terry",
           "combine", "expected_win_rates", "is_groupwise", "judge_calls", "ring", "round_robin", "win_rates"]
