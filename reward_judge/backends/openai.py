"""Judge inference on any OpenAI-compatible server (vLLM, SGLang, TGI, ``transformers serve``).

By default the fully rendered judge text (the preset's chat formatting applied here, with the
judge's own tokenizer) goes to ``/v1/completions``, so the judge reads exactly what it was trained
on whatever the server's chat handling is. ``openai_endpoint="chat"`` sends the judge messages to
``/v1/chat/completions`` instead and lets the server apply its chat template.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from .base import GenerationParams, JudgeBackend
from .http_pool import EndpointError, EndpointPool, LoopThread, RetryPolicy, normalize_urls

if TYPE_CHECKING:  # pragma: no cover
    from ..config import JudgeConfig

logger = logging.getLogger(__name__)

ENDPOINTS = ("completions", "chat")
_MESSAGES_MARK = "\x00reward-judge-messages\x00"


class LogprobsUnsupported(RuntimeError):
    """The judge server does not return token log-probabilities (needed by score-distribution modes)."""


class MessagesPassthrough:
    """Stands in for the tokenizer when messages go to ``/v1/chat/completions``.

    The reward model formats judge messages with ``tokenizer.apply_chat_template``; here that
    serialises the messages unchanged, so the server applies the judge's template itself.
    """

    chat_template = "server-side"

    def apply_chat_template(self, messages: Sequence[dict[str, str]], tokenize: bool = False,
                            add_generation_prompt: bool = True, **_: Any) -> str:
        return _MESSAGES_MARK + json.dumps(list(messages), ensure_ascii=False)


class OpenAIBackend(JudgeBackend):
    """Sends judge inputs to one or more OpenAI-compatible servers, concurrently.

    Each judge input is one request, so the server batches them (continuous batching) and several
    ``base_url`` entries share the load; retries, failover and the circuit breaker live in
    `EndpointPool`. Greedy judging sends ``temperature=0``.

    Example:
        >>> from reward_judge import GenerativeRewardModel
        >>> rm = GenerativeRewardModel.from_pretrained(                           # doctest: +SKIP
        ...     "prometheus-eval/prometheus-7b-v2.0", backend="openai",
        ...     base_url=["http://judge-0:8000", "http://judge-1:8000"])
        >>> rm(["What is 2+2?"], ["4"])                                            # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: Union[str, Sequence[str]],
        model: str,
        tokenizer: Any,
        *,
        api_key: Optional[str] = None,
        endpoint: str = "completions",
        timeout: float = 120.0,
        max_concurrency: int = 32,
        policy: Optional[RetryPolicy] = None,
        identity: Optional[str] = None,
    ):
        if endpoint not in ENDPOINTS:
            raise ValueError(f"openai_endpoint must be one of {ENDPOINTS}, got {endpoint!r}")
        if not model:
            raise ValueError(f"model must name the judge as the server knows it, got {model!r}")
        self.urls = normalize_urls(base_url)
        self.model = model
        self.endpoint = endpoint
        self.tokenizer = MessagesPassthrough() if endpoint == "chat" else tokenizer
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.pool = EndpointPool(self.urls, timeout=timeout, policy=policy or RetryPolicy(),
                                 headers=headers, max_concurrency=max_concurrency)
        self.identity = identity or f"openai:{model}"
        self._runner: Optional[LoopThread] = None
        self._adds_specials: Optional[bool] = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, judge: str, config: "JudgeConfig", *, tokenizer_path: Optional[str] = None,
             identity: Optional[str] = None) -> "OpenAIBackend":
        """Build from `JudgeConfig` (``base_url``, ``model``, ``api_key_env``...): only the tokenizer is loaded."""
        if not config.base_url:
            raise ValueError("backend='openai' needs base_url: the judge server's URL, e.g. 'http://127.0.0.1:8000'")
        tokenizer = None
        if config.openai_endpoint == "completions":
            from transformers import AutoTokenizer

            source = config.tokenizer or tokenizer_path or judge
            tokenizer = AutoTokenizer.from_pretrained(source, revision=config.revision if source == judge else None,
                                                      trust_remote_code=config.trust_remote_code)
        api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        backend = cls(
            config.base_url, config.model or judge, tokenizer, api_key=api_key, endpoint=config.openai_endpoint,
            timeout=config.request_timeout, max_concurrency=config.max_concurrency,
            policy=RetryPolicy(max_attempts=config.max_retries + 1), identity=identity or f"openai:{config.model or judge}",
        )
        if config.logprobs:
            backend.check_logprobs()
        return backend

    # --------------------------------------------------------------- generation
    def _run(self, coroutine: Any) -> Any:
        # A private loop thread: works from plain sync code and from inside a trainer's running loop.
        if self._runner is None:
            self._runner = LoopThread()
        return self._runner.run(coroutine)

    def _payload(self, text: str, params: GenerationParams, add_special_tokens: bool) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"model": self.model, "max_tokens": params.max_new_tokens,
                                   "temperature": params.temperature if params.do_sample else 0.0}
        if params.do_sample:
            payload.update(top_p=params.top_p, seed=params.seed)
            if params.top_k:
                payload["top_k"] = params.top_k  # vLLM/SGLang extension; only sent when asked for
        if params.repetition_penalty != 1.0:
            payload["repetition_penalty"] = params.repetition_penalty  # vLLM/SGLang extension
        if text.startswith(_MESSAGES_MARK):
            payload["messages"] = json.loads(text[len(_MESSAGES_MARK):])
            return "/v1/chat/completions", payload
        if self.endpoint == "chat":
            raise ValueError("openai_endpoint='chat' needs chat_format='template' (the server applies the chat "
                             "template); legacy wrappers send rendered text: use openai_endpoint='completions'")
        payload["prompt"] = text
        if not add_special_tokens and self._adds_special_tokens():
            # A chat template already wrote BOS; vLLM/SGLang would add a second one to a text prompt. Only
            # sent when the tokenizer adds tokens at all: strict servers (transformers serve) reject the field.
            payload["add_special_tokens"] = False
        return "/v1/completions", payload

    def _adds_special_tokens(self) -> bool:
        if self._adds_specials is None:
            probe = "Judge"
            with_specials = self.tokenizer(probe, add_special_tokens=True)["input_ids"]
            self._adds_specials = with_specials != self.tokenizer(probe, add_special_tokens=False)["input_ids"]
        return self._adds_specials

    async def agenerate(self, texts: Sequence[str], params: GenerationParams, *, add_special_tokens: bool) -> list[str]:
        """Async `generate`: all inputs in flight at once (bounded by ``max_concurrency``)."""

        async def one(text: str) -> str:
            path, payload = self._payload(text, params, add_special_tokens)
            answer = await self.pool.post_json(path, payload)
            return _answer_text(answer, path)

        return list(await asyncio.gather(*(one(t) for t in texts)))

    def generate(self, texts: Sequence[str], params: GenerationParams, *, add_special_tokens: bool) -> list[str]:
        return self._run(self.agenerate(texts, params, add_special_tokens=add_special_tokens))

    # ----------------------------------------------------------------- logprobs
    def first_token_logprobs(self, texts: Sequence[str], top_k: int = 20, *, add_special_tokens: bool = False
                             ) -> list[dict[str, float]]:
        """Top-``top_k`` log-probabilities of the judge's first answer token, per text (vLLM, SGLang)."""

        async def one(text: str) -> dict[str, float]:
            path, payload = self._payload(text, GenerationParams(max_new_tokens=1), add_special_tokens)
            if path == "/v1/chat/completions":
                payload.update(logprobs=True, top_logprobs=top_k)
            else:
                payload["logprobs"] = top_k
            answer = await self.pool.post_json(path, payload)
            return _top_logprobs(answer, path)

        async def run() -> list[dict[str, float]]:
            return list(await asyncio.gather(*(one(t) for t in texts)))

        return self._run(run())

    def check_logprobs(self) -> None:
        """Raise `LogprobsUnsupported` now if the server refuses or ignores ``logprobs``."""
        probe = "Hello" if self.endpoint == "completions" else MessagesPassthrough().apply_chat_template(
            [{"role": "user", "content": "Hello"}])
        try:
            found = self.first_token_logprobs([probe], top_k=5, add_special_tokens=True)[0]
        except EndpointError as exc:
            raise LogprobsUnsupported(
                f"the judge server at {self.urls} refused a logprobs request ({exc}); score-distribution modes need "
                "a server that returns logprobs (vLLM, SGLang). Use generate mode with this server.") from exc
        if not found:
            raise LogprobsUnsupported(
                f"the judge server at {self.urls} answered without logprobs; score-distribution modes need a server "
                "that returns them (vLLM, SGLang). Use generate mode with this server.")

    def close(self) -> None:
        if self._runner is not None:
            self._runner.run(self.pool.aclose())
            self._runner.close()
            self._runner = None


def _answer_text(answer: Any, path: str) -> str:
    try:
        choice = answer["choices"][0]
        if path == "/v1/chat/completions":
            return choice["message"]["content"] or ""
        return choice["text"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise EndpointError(f"{path} answered without choices[0] text: {str(answer)[:300]}") from exc


def _top_logprobs(answer: Any, path: str) -> dict[str, float]:
    try:
        choice = answer["choices"][0]
        logprobs = choice.get("logprobs")
        if not logprobs:
            return {}
        if path == "/v1/chat/completions":
            first = (logprobs.get("content") or [{}])[0]
            return {e["token"]: float(e["logprob"]) for e in first.get("top_logprobs") or []}
        top = logprobs.get("top_logprobs") or [{}]
        return {token: float(value) for token, value in (top[0] or {}).items()}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise EndpointError(f"{path} answered with malformed logprobs: {str(answer)[:300]}") from exc


def load_openai_backend(judge: Any, config: "JudgeConfig") -> OpenAIBackend:
    """The backend ``GenerativeRewardModel.from_pretrained(judge, backend="openai", ...)`` uses.

    ``judge`` names the judge (preset id, hub id or ``"default"``): its tokenizer formats the prompts
    and, unless ``model`` is given, it is the model name sent to the server.
    """
    if not isinstance(judge, str):
        raise TypeError(f"backend='openai' takes the judge as a name or path, got {type(judge).__name__}")
    from ..presets import DEFAULT_JUDGE

    if judge == DEFAULT_JUDGE:
        from ..embedded import embedded_judge_path

        path, identity = embedded_judge_path()
        return OpenAIBackend.load(judge, config.replace(model=config.model or str(path)), tokenizer_path=str(path),
                                  identity=f"openai:{identity}")
    return OpenAIBackend.load(judge, config)
