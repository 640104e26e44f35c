"""PPO glue: a generative judge behind the ``nn.Module`` interface TRL's PPO reads rewards from.

TRL's PPO path (``trl.experimental.utils.get_reward``; ``PPOTrainer(reward_model=...)`` in the TRL releases
that still ship a PPO trainer) calls ``getattr(model, model.base_model_prefix)(input_ids=...,
attention_mask=..., position_ids=...)``, passes ``last_hidden_state`` to ``model.score`` and reads the
value at the last real token of each sequence. `JudgeRewardModule` answers that call by decoding each
sequence with the policy tokenizer, splitting prompt from response, asking the judge, and writing the
reward at every position of its row (so whichever position PPO reads, it reads the judge's reward).

How prompt and response are split, most robust first:

1. Registered prompts: give the prompts of the training set (``prompts=`` or `register_prompts`), as
   strings or chat messages. They are tokenized as the PPO dataset tokenizes them (the chat template
   with the generation prompt for messages, plain tokenization for strings), and a sequence is split
   after the longest registered prompt its tokens start with. The judge then receives the original
   prompt (for chat prompts: the last user turn, earlier turns as context), not decoded template text.
2. The assistant marker of the policy's chat template (the tokens the template appends as generation
   prompt), when the sequence holds it exactly once: the split is after it; the judge receives the decoded
   prompt part. A sequence holding it more than once is ambiguous (a multi-turn prompt, or a response that
   wrote the marker itself to move the split and rewrite the question the judge grades): it is not split.
3. Otherwise the sequence cannot be split: that row gets the fallback reward, counted in `stats`. Register the
   prompts for multi-turn data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import torch
from torch import nn

from reward_judge import GenerativeRewardModel
from reward_judge.rewarding import FALLBACK_RAISE

logger = logging.getLogger(__name__)


@dataclass
class _Output:
    last_hidden_state: torch.Tensor


@dataclass
class SplitStats:
    """How sequences were split and how many got the fallback reward (read ``module.stats``)."""

    registered_prompt: int = 0
    chat_marker: int = 0
    #: sequences holding the assistant marker more than once (counted in ``unsplit`` too)
    ambiguous: int = 0
    unsplit: int = 0
    fallbacks: int = 0


class _JudgeBackbone(nn.Module):
    """Stands where a reward model's transformer sits; returns the judge reward as a 1-d "hidden state"."""

    def __init__(self, owner: "JudgeRewardModule"):
        super().__init__()
        self._owner = [owner]  # a list, so the owner is not registered as a submodule (no cycle)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, **_: Any) -> _Output:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        rewards = self._owner[0].rewards_for(input_ids, attention_mask.bool())
        hidden = rewards.to(input_ids.device).view(-1, 1, 1).expand(-1, input_ids.shape[1], 1).contiguous()
        return _Output(last_hidden_state=hidden)


class JudgeRewardModule(nn.Module):
    """A `GenerativeRewardModel` as the ``reward_model`` of TRL's PPO.

    Args:
        judge: the reward model.
        policy_tokenizer: the tokenizer of the policy whose sequences are judged.
        prompts: training prompts (strings or chat messages) to split sequences exactly.
        fallback_reward: reward for rows the judge cannot score. PPO cannot leave a sample out, so a
            number is required here unless the judge was built with a numeric ``fallback``.

    Example:
        >>> module = JudgeRewardModule(judge, tokenizer, prompts=train_prompts, fallback_reward=0.0)  # doctest: +SKIP
        >>> _, rewards, _ = get_reward(module, query_responses, tokenizer.pad_token_id, context_length)  # doctest: +SKIP
    """

    base_model_prefix = "judge_backbone"

    def __init__(self, judge: GenerativeRewardModel, policy_tokenizer: Any, *,
                 prompts: Optional[Iterable[Any]] = None, fallback_reward: Optional[float] = None):
        super().__init__()
        if fallback_reward is None:
            judge_fallback = judge.config.fallback
            if judge_fallback is None or judge_fallback == FALLBACK_RAISE:
                raise ValueError(
                    "PPO cannot leave a sample out of the batch: pass fallback_reward=<number> for rows the judge cannot "
                    f"score, or build the judge with a numeric fallback (it has fallback={judge_fallback!r})"
                )
            fallback_reward = float(judge_fallback)
        self.judge = judge
        self.policy_tokenizer = policy_tokenizer
        self.fallback_reward = float(fallback_reward)
        self.judge_backbone = _JudgeBackbone(self)
        self.score = nn.Identity()
        self.stats = SplitStats()
        self._prompts: dict[tuple[int, ...], Any] = {}
        self._prompt_lengths: list[int] = []
        self._marker = _generation_marker(policy_tokenizer)
        if prompts is not None:
            self.register_prompts(prompts)

    def register_prompts(self, prompts: Iterable[Any]) -> None:
        """Remember training prompts so sequences split exactly after them."""
        # get_reward masks every token equal to the pad id, inside the prompt too (a pad token that is
        # also the chat template's end-of-turn token): match prompts without those tokens.
        pad = self.policy_tokenizer.pad_token_id
        for prompt in prompts:
            self._prompts[tuple(t for t in self._tokenize_prompt(prompt) if t != pad)] = prompt
        self._prompt_lengths = sorted({len(ids) for ids in self._prompts}, reverse=True)

    def _tokenize_prompt(self, prompt: Any) -> list[int]:
        tok = self.policy_tokenizer
        if isinstance(prompt, str):
            return list(tok(prompt, add_special_tokens=False)["input_ids"])
        ids = tok.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    def split(self, tokens: Sequence[int]) -> Optional[tuple[Any, list[int]]]:
        """(prompt for the judge, response token ids), or ``None`` when the sequence cannot be split."""
        tokens = list(tokens)
        for length in self._prompt_lengths:
            if length <= len(tokens):
                prompt = self._prompts.get(tuple(tokens[:length]))
                if prompt is not None:
                    self.stats.registered_prompt += 1
                    return prompt, tokens[length:]
        if self._marker:
            width = len(self._marker)
            starts = [s for s in range(len(tokens) - width + 1) if tokens[s: s + width] == self._marker]
            # one marker: the generation prompt. More: the response may have written one to move the split
            # (and put a question of its own before its answer), so where the response begins is unknown.
            if len(starts) == 1:
                start = starts[0]
                self.stats.chat_marker += 1
                prompt_text = self.policy_tokenizer.decode(tokens[:start], skip_special_tokens=True).strip()
                return prompt_text, tokens[start + width:]
            if len(starts) > 1:
                self.stats.ambiguous += 1
                logger.warning("a PPO sequence holds the assistant marker %d times: not split (its prompt is unknown); "
                               "register the training prompts (prompts=...) to split every sequence exactly",
                               len(starts))
        self.stats.unsplit += 1
        return None

    @torch.no_grad()
    def rewards_for(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The judge's reward for each row of a (batch, length) tensor of prompt+response tokens."""
        rows: list[Optional[tuple[Any, str]]] = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            split = self.split([t for t, keep in zip(ids, mask) if keep])
            if split is None:
                rows.append(None)
            else:
                prompt, response_ids = split
                rows.append((prompt, self.policy_tokenizer.decode(response_ids, skip_special_tokens=True).strip()))
        todo = [i for i, row in enumerate(rows) if row is not None]
        rewards = [self.fallback_reward] * len(rows)
        unscored = len(rows) - len(todo)
        if todo:
            results = self.judge.score([rows[i][0] for i in todo], [rows[i][1] for i in todo])  # type: ignore[index]
            for i, result in zip(todo, results):
                if result.reward is None:
                    unscored += 1
                else:
                    unscored += int(result.fallback)  # a judge built with a numeric fallback: counted too
                    rewards[i] = result.reward
        self.stats.fallbacks += unscored
        if unscored:
            logger.warning("%d of %d PPO sequences got no judge reward (unsplit or no valid answer); they get %s",
                           unscored, len(rows), self.fallback_reward)
        return torch.tensor(rewards, dtype=torch.float32)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, **_: Any) -> torch.Tensor:
        return self.score(self.judge_backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state)


def _generation_marker(tokenizer: Any) -> list[int]:
    """The token ids a chat template appends as generation prompt (e.g. ``<|im_start|>assistant\\n``)."""
    if not getattr(tokenizer, "chat_template", None):
        return []
    probe = [{"role": "user", "content": "x"}]
    try:
        without = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=False)
        with_prompt = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    except Exception:  # a template that cannot render a bare user turn gives no marker
        return []
    if not with_prompt.startswith(without) or with_prompt == without:
        return []
    return list(tokenizer(with_prompt[len(without):], add_special_tokens=False)["input_ids"])
