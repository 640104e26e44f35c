"""verl's own reward managers calling our reward functions, in process and through a server.

verl 0.9.1 is installed with ``--no-deps`` plus what its reward code imports (ray, tensordict,
omegaconf, codetiming...; not its GPU stack). The managers are verl's classes, run on a real
``DataProto`` batch built from a real policy tokenizer:

- ``verl.workers.reward_manager.NaiveRewardManager`` (``compute_score`` per sample) and
  ``BatchRewardManager`` (``compute_score_batch``, lists);
- ``verl.experimental.reward_loop.RewardLoopWorker``, the worker verl 0.9 trains with (a Ray actor
  there, a plain object here), which loads our file from ``reward.custom_reward_function.path`` /
  ``.name`` and runs the ``naive`` reward-loop manager;
- the same with ``compute_score_remote`` / ``compute_score_remote_batch`` against a real
  ``reward-judge serve`` that requires an API key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import pytest

from tests._policy_tokenizers import policy_tokenizer
from tests._servers import start_reward_server

pytestmark = pytest.mark.training

verl = pytest.importorskip("verl", reason="pip install --no-deps verl==0.9.1 plus its reward-manager imports")
np = pytest.importorskip("numpy")


KEY = "verl-test-key-77aa"
PROTOCOL = {"custom_name": "grade-ref", "range": [1, 9], "answer_pattern": r"(\d)",
            "template": "Question: {instruction}\nReference answer: {reference}\nAnswer: {response}\n"
                        "Grade of the answer from 1 to 9:"}
OPTIONS = {"chat_format": "template", "max_new_tokens": 3, "max_attempts": 1, "normalize": "none"}
SERVER_OPTIONS = ["--chat-format", "template", "--max-new-tokens", "3", "--max-attempts", "1", "--normalize", "none"]
JUDGE_CONTROL = {"<|im_start|>": 3, "<|im_end|>": 2}

# (extra_info, response the policy wrote, ground truth, the instruction and reference the judge must get)
ROWS = [
    ({"question": "What is 2+2?", "split": "test", "index": 0}, "4", 4, "What is 2+2?", "4"),
    ({"prompt": [{"role": "system", "content": "Answer in one word."},
                 {"role": "user", "content": "Capital of Italy?"}]}, "Rome.", "Rome",
     "System: Answer in one word.\n\nCapital of Italy?", "Rome"),
    # a prompt kept as the policy's chat-templated text: read back into the conversation
    ({"prompt": "<|im_start|>user\nName a primary colour.<|im_end|>\n<|im_start|>assistant\n"}, "Red.", "",
     "Name a primary colour.", ""),
]


def _batch():
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses ending with EOS."""
    import torch
    from verl import DataProto

    tokenizer = policy_tokenizer("smollm2")
    prompt_len, response_len = 48, 8
    prompts, responses, prompt_mask, response_mask = [], [], [], []
    for info, response, *_ in ROWS:
        question = info.get("question") or "x"
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][-prompt_len:]
        answer = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        prompts.append([tokenizer.pad_token_id] * (prompt_len - len(ids)) + ids)
        prompt_mask.append([0] * (prompt_len - len(ids)) + [1] * len(ids))
        responses.append(answer + [tokenizer.pad_token_id] * (response_len - len(answer)))
        response_mask.append([1] * len(answer) + [0] * (response_len - len(answer)))
    p, r = torch.tensor(prompts), torch.tensor(responses)
    tensors = {"prompts": p, "responses": r, "input_ids": torch.cat([p, r], 1),
               "attention_mask": torch.cat([torch.tensor(prompt_mask), torch.tensor(response_mask)], 1)}
    non_tensors = {"data_source": np.array(["judge_test"] * len(ROWS), dtype=object),
                   "reward_model": np.array([{"ground_truth": g, "style": "model"} for _, _, g, *_ in ROWS], dtype=object),
                   "extra_info": np.array([dict(info) for info, *_ in ROWS], dtype=object)}
    return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors), tokenizer


def _judge_env(monkeypatch) -> None:
    monkeypatch.setenv("REWARD_JUDGE_JUDGE", "default")
    monkeypatch.setenv("REWARD_JUDGE_PROTOCOL", json.dumps(PROTOCOL))
    monkeypatch.setenv("REWARD_JUDGE_OPTIONS", json.dumps(OPTIONS))
    monkeypatch.setenv("REWARD_JUDGE_MAX_WAIT_MS", "200")


def _our_function(name: str):
    """Loaded the way verl loads custom_reward_function.path / .name."""
    from verl.utils.import_utils import load_extern_object

    import reward_judge.integrations.verl as ours

    return load_extern_object(module_path=str(Path(ours.__file__)), object_name=name)


def _reward_loop(function_name: str) -> list[dict]:
    """verl 0.9's RewardLoopWorker with our file as its custom reward function (naive reward-loop manager)."""
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop import RewardLoopWorker

    import reward_judge.integrations.verl as ours
    from reward_judge.embedded import embedded_judge_path

    data, _ = _batch()
    folder = str(embedded_judge_path()[0])  # the policy tokenizer verl decodes responses with
    config = OmegaConf.create({
        "actor_rollout_ref": {"model": {"path": folder, "tokenizer_path": folder}},
        "reward": {"num_workers": 1, "sandbox_fusion": None, "reward_model": {"enable": False},
                   "custom_reward_function": {"path": str(Path(ours.__file__)), "name": function_name,
                                              "reward_kwargs": {}},
                   "reward_manager": {"source": "register", "name": "naive", "module": {"path": None, "name": None}}},
    })

    async def run() -> list[dict]:
        worker = RewardLoopWorker(config)  # built inside the loop, as in its Ray actor
        return await worker.compute_score_batch(data)

    return asyncio.run(run())


def _check_inputs(inputs: list[str]) -> None:
    assert len(inputs) == len(ROWS), inputs
    for _, response, _, instruction, reference in ROWS:
        mine = [t for t in inputs if f"Question: {instruction}\nReference answer: {reference}\nAnswer: {response}\n" in t]
        assert len(mine) == 1, (instruction, inputs)
        assert {token: mine[0].count(token) for token in JUDGE_CONTROL} == JUDGE_CONTROL, mine[0]


def _logged_inputs(messages: list[str]) -> list[str]:
    return [json.loads(m.group(1)) for line in messages if (m := re.search(r"judge input \(request \d+, row \d+\): (.*)$", line))]


def _check_manager_output(out: dict, data) -> list[float]:
    tensor, extra = out["reward_tensor"], out["reward_extra_info"]
    ends = data.batch["attention_mask"][:, data.batch["prompts"].shape[1]:].sum(-1) - 1
    rewards = [float(tensor[i, ends[i]]) for i in range(len(ROWS))]
    assert rewards == [float(s) for s in extra["score"]]  # verl put our score at each response's last token
    assert float(tensor.sum()) == pytest.approx(sum(rewards))
    assert len(extra["judge_fallback"]) == len(ROWS)
    return rewards


def test_naive_batch_and_reward_loop_managers_in_process(monkeypatch, caplog):
    from verl.workers.reward_manager import BatchRewardManager, NaiveRewardManager

    _judge_env(monkeypatch)
    data, tokenizer = _batch()
    with caplog.at_level(logging.DEBUG, logger="reward_judge.integrations.judge_input"):
        naive = NaiveRewardManager(tokenizer, num_examine=0, compute_score=_our_function("compute_score"))
        per_sample = _check_manager_output(naive(data, return_dict=True), data)
    _check_inputs(_logged_inputs([r.getMessage() for r in caplog.records]))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="reward_judge.integrations.judge_input"):
        batch = BatchRewardManager(tokenizer, num_examine=0, compute_score=_our_function("compute_score_batch"))
        batched = _check_manager_output(batch(_batch()[0], return_dict=True), data)
    logged = [r.getMessage() for r in caplog.records if r.name == "reward_judge.integrations.judge_input"]
    _check_inputs(_logged_inputs(logged))
    # One batched request: each row's judge input is logged once, then its token count (the chat
    # template's own 5 control tokens, none from the rollout).
    assert [m.split(": ")[0] for m in logged] == [name for i in range(len(ROWS)) for name in
                                                  (f"judge input (request 0, row {i})", f"judge input tokens (request 0, row {i})")]
    assert all(m.endswith(" tokens, 5 control") for m in logged if m.startswith("judge input tokens"))
    assert batched == per_sample  # greedy judge: the same rows get the same rewards either way
    loop = _reward_loop("compute_score")
    assert [r["reward_score"] for r in loop] == per_sample
    assert all(set(r["reward_extra_info"]) == {"score", "judge_fallback"} for r in loop)


def test_remote_functions_ask_a_server_that_requires_a_key(tmp_path, monkeypatch):
    from verl.workers.reward_manager import BatchRewardManager

    _judge_env(monkeypatch)
    in_process = [r["reward_score"] for r in _reward_loop("compute_score")]
    with start_reward_server(tmp_path, "--log-judge-inputs", "--max-wait-ms", "200", protocol=PROTOCOL,
                             options=SERVER_OPTIONS, env={"REWARD_JUDGE_API_KEY": KEY}) as server:
        monkeypatch.setenv("REWARD_JUDGE_URL", server.url)
        monkeypatch.setenv("REWARD_JUDGE_API_KEY", KEY)
        loop = _reward_loop("compute_score_remote")
        data, tokenizer = _batch()
        batch = BatchRewardManager(tokenizer, num_examine=0, compute_score=_our_function("compute_score_remote_batch"))
        batched = _check_manager_output(batch(data, return_dict=True), data)
        log = server.log.read_text().splitlines()
    assert [r["reward_score"] for r in loop] == in_process == batched  # the server runs the same judge
    inputs = _logged_inputs(log)
    _check_inputs(inputs[: len(ROWS)])
    _check_inputs(inputs[len(ROWS):])


def test_rows_without_the_question_are_refused_with_the_key_named(monkeypatch):
    _judge_env(monkeypatch)
    compute_score_batch = _our_function("compute_score_batch")
    with pytest.raises(ValueError, match=r"extra_info\[1\] has no 'question' or 'prompt'.*'index'"):
        compute_score_batch(["a", "b"], ["4", "5"], ["4", "5"], [{"question": "2+2?"}, {"index": 3}])
    with pytest.raises(ValueError, match="no reward server"):
        monkeypatch.delenv("REWARD_JUDGE_URL", raising=False)
        _our_function("compute_score_remote")("a", "4", "4", {"question": "2+2?"})
