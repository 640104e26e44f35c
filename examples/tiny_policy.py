"""A tiny random Llama policy for running the examples on a CPU (it writes gibberish; it trains fast).

On a GPU, pass ``--policy <hub id or path>`` to the examples instead.
"""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from reward_judge.embedded import embedded_judge_path


def load_policy(policy: str, folder: str):
    """(model path or instance, tokenizer). ``"tiny"`` builds a 2-layer random Llama with SmolLM2's
    tokenizer and saves it under ``folder`` (trainers that build a reference model reload it by path)."""
    if policy != "tiny":
        return policy, AutoTokenizer.from_pretrained(policy)
    tokenizer = AutoTokenizer.from_pretrained(embedded_judge_path()[0])
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, tokenizer


def load_causal_lm(model):
    return model if not isinstance(model, str) else AutoModelForCausalLM.from_pretrained(model)
