"""Grouped-query attention on CPU (`reward_judge.backends.transformers.attention`): the same numbers as
transformers' ``sdpa``, without copying every key/value head for its query heads."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from reward_judge.backends.transformers.attention import NAME, use_grouped_query_sdpa
from reward_judge.backends.transformers.batching import prefill


def tiny_llama(kv_heads: int = 2, attn: str = "sdpa") -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=256)
    config._attn_implementation = attn
    return LlamaForCausalLM(config).eval()


def pair() -> tuple[LlamaForCausalLM, LlamaForCausalLM]:
    plain, grouped = tiny_llama(), tiny_llama()
    assert use_grouped_query_sdpa(grouped) and grouped.config._attn_implementation == NAME
    assert plain.config._attn_implementation == "sdpa"
    return plain, grouped


@pytest.mark.unit
def test_only_a_cpu_sdpa_model_with_grouped_heads_is_switched():
    assert not use_grouped_query_sdpa(tiny_llama(kv_heads=4))  # one key/value head per query head: nothing to copy
    assert not use_grouped_query_sdpa(tiny_llama(attn="eager"))
    assert use_grouped_query_sdpa(tiny_llama())


@pytest.mark.unit
def test_padded_batch_and_tree_prefill_match_sdpa():
    plain, grouped = pair()
    rows = [[5] * 30 + [7, 8, 9] + [11] * 20, [5] * 30 + [7, 8, 9] + [12] * 5, [5] * 30 + [13] * 40]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])  # left padding: the mask is never all ones
    with torch.inference_mode():
        a = plain(input_ids=ids, attention_mask=(ids != 0).long()).logits
        b = grouped(input_ids=ids, attention_mask=(ids != 0).long()).logits
        assert (a - b).abs().max().item() <= 1e-6
        ours, theirs = prefill(grouped, rows, pad_id=0), prefill(plain, rows, pad_id=0)
    assert ours.passes == theirs.passes >= 2  # the shared prefix and segments really were reused
    for x, y in zip(ours.parts, theirs.parts, strict=True):
        assert x.rows == y.rows and (x.last_logits - y.last_logits).abs().max().item() <= 1e-6


@pytest.mark.unit
def test_greedy_generation_is_unchanged():
    plain, grouped = pair()
    ids = torch.tensor([[0, 0, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]])
    mask = (ids != 0).long()
    with torch.inference_mode():
        a = plain.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False, pad_token_id=0)
        b = grouped.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False, pad_token_id=0)
    assert torch.equal(a, b)


@pytest.mark.model
def test_the_embedded_judge_runs_grouped_query_attention(default_judge):
    assert default_judge.backend.model.config._attn_implementation == NAME
