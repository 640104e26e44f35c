"""OpenRLHF's own client code against our judge, and what the judge then reads.

OpenRLHF 0.11.2 is installed with ``--no-deps`` (its full dependencies are GPU builds); its
``SingleTurnAgentExecutor`` is the code that, in training, turns a vLLM generation into the reward
request. Here it runs for real, with real policy tokenizers of four chat families, against

- a real ``reward-judge serve`` process over HTTP (the API key travels in the URL, as OpenRLHF users
  pass it in ``--reward.remote_url``), and
- ``integrations/openrlhf.py`` given as its ``.py`` remote URL, which the executor loads itself.

Only its generation engine (vLLM, which cannot run here) is a stand-in: it answers with the token ids
of a fixed text followed by the policy's end-of-turn token, as vLLM returns a finished answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import types
from pathlib import Path

import pytest

from tests._policy_tokenizers import END_OF_TURN, policy_tokenizer
from tests._servers import start_reward_server

pytestmark = pytest.mark.training

agent = pytest.importorskip("openrlhf.utils.agent", reason="pip install --no-deps openrlhf==0.11.2 pylatexenc aiohttp")


API_KEY = "openrlhf-test-key-5b2e"
JUDGE_PROTOCOL = {"custom_name": "grade-ref", "range": [1, 9], "answer_pattern": r"(\d)",
                  "template": "Question: {instruction}\nReference answer: {reference}\nAnswer: {response}\n"
                              "Grade of the answer from 1 to 9:"}
# The judge's own chat template (SmolLM2's ChatML): a judge input holds exactly these control tokens.
JUDGE_OPTIONS = ["--chat-format", "template", "--max-new-tokens", "3", "--max-attempts", "1", "--normalize", "none"]
JUDGE_CONTROL = {"<|im_start|>": 3, "<|im_end|>": 2}
POLICY_MARKUP = ("<|eot_id|>", "<|start_header_id|>", "<|begin_of_text|>", "<start_of_turn>", "<end_of_turn>",
                 "<bos>", "[INST]", "[/INST]", "</s>", "<s>", "<<SYS>>")

# (policy family, conversation, answer the engine gives, label, the instruction the judge must get)
ROLLOUTS = [
    ("smollm2", [{"role": "system", "content": "Answer in one word."},
                 {"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."},
                 {"role": "user", "content": "And of Italy?"}], "Rome.", "Rome",
     "System: Answer in one word.\n\nUser: Capital of France?\n\nAssistant: Paris.\n\nAnd of Italy?"),
    ("llama3", [{"role": "user", "content": "What is 2+2?"}], "4", "4", "What is 2+2?"),
    ("gemma", [{"role": "user", "content": "Name a primary colour."}], "Red.", "", "Name a primary colour."),
    ("mistral", [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi."},
                 {"role": "user", "content": "Say bye."}], "Bye.", "Bye.", "User: Say hi.\n\nAssistant: Hi.\n\nSay bye."),
]


class FinishedAnswerEngine:
    """Stand-in for OpenRLHF's vLLM engine: a finished answer (text ids + end-of-turn id, finish 'stop')."""

    def __init__(self, tokenizer, answer: str, end_token: str):
        self.ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids(end_token)]
        self.answer = answer
        self.prompts: list[list[int]] = []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        self.prompts.append(list(prompt_token_ids))
        output = types.SimpleNamespace(token_ids=list(self.ids), text=self.answer, finish_reason="stop", logprobs=None)
        return types.SimpleNamespace(outputs=[output])


def _execute(remote_rm_url: str) -> list[dict]:
    """One OpenRLHF rollout per ROLLOUTS row, concurrently, through the real executor."""
    executor = agent.SingleTurnAgentExecutor(remote_rm_url)

    async def all_rollouts() -> list[dict]:
        calls = []
        for family, messages, answer, label, _ in ROLLOUTS:
            tokenizer = policy_tokenizer(family)
            # what OpenRLHF's PromptDataset does with --apply_chat_template
            prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            engine = FinishedAnswerEngine(tokenizer, answer, END_OF_TURN[family])
            params = types.SimpleNamespace(max_tokens=32, logprobs=None)
            calls.append(executor.execute(prompt, label, params, 1024, tokenizer, engine))
        return await asyncio.gather(*calls)

    return asyncio.run(all_rollouts())


def _judge_inputs(lines: list[str]) -> list[str]:
    return [json.loads(m.group(1)) for line in lines if (m := re.search(r"judge input \(request \d+, row \d+\): (.*)$", line))]


def _check_what_the_judge_read(inputs: list[str]) -> None:
    assert len(inputs) == len(ROLLOUTS)
    for family, messages, answer, label, instruction in ROLLOUTS:
        mine = [text for text in inputs if f"\nAnswer: {answer}\nGrade" in text]
        assert len(mine) == 1, f"{family}: the bare answer {answer!r} is not in exactly one judge input"
        text = mine[0]
        assert f"Question: {instruction}\nReference answer: {label}\nAnswer: {answer}\nGrade" in text, text
        assert {token: text.count(token) for token in JUDGE_CONTROL} == JUDGE_CONTROL, text
        assert not [m for m in POLICY_MARKUP if m in text], f"{family}: policy markup reached the judge: {text!r}"


def test_openrlhf_executor_over_http_with_the_key_in_the_url(tmp_path):
    with start_reward_server(tmp_path, "--api-key", API_KEY, "--log-judge-inputs", "--max-wait-ms", "200",
                             protocol=JUDGE_PROTOCOL, options=JUDGE_OPTIONS) as server:
        outputs = _execute(f"{server.url}/get_reward?api_key={API_KEY}")
        log = server.log.read_text()
        # without the key, OpenRLHF's client gets 401 (it retries, then gives up and logs; no reward is set)
        refused = _execute(f"{server.url}/get_reward")
    for out, (family, messages, answer, *_rest) in zip(outputs, ROLLOUTS, strict=True):
        assert isinstance(out["reward"], list) and len(out["reward"]) == 1 and isinstance(out["reward"][0], float)
        assert out["scores"] == out["reward"] and set(out["extra_logs"]) == {"judge_fallback"}
        assert out["observation_tokens"][-1] == policy_tokenizer(family).convert_tokens_to_ids(END_OF_TURN[family])
    assert all(out["reward"] is None for out in refused)
    _check_what_the_judge_read(_judge_inputs(log.splitlines()))
    assert API_KEY not in log
    detected = set(re.findall(r"reading policy prompts as (.+?) \(detected\)", log))
    assert detected == {"ChatML", "Llama 3", "Gemma", "Llama 2 / Mistral [INST]"}


def test_openrlhf_loads_our_reward_func_file_as_its_remote_url(monkeypatch, caplog):
    import logging

    import reward_judge.integrations.openrlhf as ours

    path = Path(ours.__file__)
    monkeypatch.setenv("REWARD_JUDGE_JUDGE", "default")
    monkeypatch.setenv("REWARD_JUDGE_PROTOCOL", json.dumps(JUDGE_PROTOCOL))
    monkeypatch.setenv("REWARD_JUDGE_OPTIONS", json.dumps({"chat_format": "template", "max_new_tokens": 3,
                                                           "max_attempts": 1, "normalize": "none"}))
    monkeypatch.setenv("REWARD_JUDGE_MAX_WAIT_MS", "200")
    with caplog.at_level(logging.DEBUG, logger="reward_judge.integrations.judge_input"):
        outputs = _execute(str(path))  # the executor imports the file itself, as for --reward.remote_url x.py
    for out in outputs:
        import torch

        assert isinstance(out["reward"], torch.Tensor) and out["reward"].shape == (1,)
        assert torch.equal(out["scores"], out["reward"]) and set(out["extra_logs"]) == {"judge_fallback"}
    _check_what_the_judge_read(_judge_inputs([r.getMessage() for r in caplog.records]))
