"""`reward-judge export JUDGE DIR`: a plain Hugging Face folder (weights, tokenizer, chat template, no GGUF entry).

`tests/test_openai_backend.py` starts `transformers serve` on the same exported folder.
"""

from __future__ import annotations

import json

import pytest

from reward_judge.embedded import embedded_judge_path
from reward_judge.integrations.cli import main

pytestmark = pytest.mark.model


def test_the_exported_default_judge_is_a_plain_folder(exported_judge, judge_backend):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((exported_judge / "config.json").read_text())
    assert "quantization_config" not in config
    names = {p.name for p in exported_judge.iterdir()}
    assert "model.safetensors" in names and "tokenizer.json" in names
    tokenizer = AutoTokenizer.from_pretrained(exported_judge)
    messages = [{"role": "user", "content": "Hi"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == \
        judge_backend.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    model = AutoModelForCausalLM.from_pretrained(exported_judge, dtype=torch.float32)
    ids = torch.tensor([tokenizer("The capital of France is")["input_ids"]])
    with torch.inference_mode():
        assert torch.equal(model(ids).logits, judge_backend.model(ids).logits)  # the same weights, bit for bit


def test_the_converted_cache_folder_has_no_gguf_entry():
    folder, _ = embedded_judge_path()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())


def test_a_folder_from_an_earlier_release_is_fixed_in_place(tmp_path, monkeypatch):
    """A converted folder that still names `quant_method: gguf` (written before this fix) is rewritten on load."""
    import shutil

    from reward_judge import embedded

    folder, _ = embedded_judge_path()
    old_home = tmp_path / "home"
    copy = old_home / folder.name
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gguf"}
    (copy / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("REWARD_JUDGE_HOME", str(old_home))
    fixed, _ = embedded.embedded_judge_path()
    assert fixed == copy and "quantization_config" not in json.loads((copy / "config.json").read_text())


def test_the_command_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "something").write_text("x")
    with pytest.raises(SystemExit, match="is not empty"):
        main(["export", "default", str(tmp_path)])
    out = tmp_path / "new"
    assert main(["export", "default", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
