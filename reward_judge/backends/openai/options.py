"""Options of the OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp, TGI, ``transformers serve``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ...options import check_declared_types, check_positive_int, check_positive_number, option
from ..base import ANSWER_LOGPROBS, GENERATE, BackendOptions

ENDPOINTS = ("completions", "chat")
PROMPT_FORMATS = ("auto", "token_ids", "text")


def endpoint_capabilities(endpoint: str) -> frozenset[str]:
    """What the backend can do on ``endpoint``: a chat answer starts where the server's template puts it, so it
    has no answer slot to read log-probabilities at."""
    return frozenset({GENERATE}) if endpoint == "chat" else frozenset({GENERATE, ANSWER_LOGPROBS})


@dataclass
class OpenAIOptions(BackendOptions):
    """How the judge is reached over HTTP (``backend="openai"``).

    Example:
        >>> OpenAIOptions(base_url="http://127.0.0.1:8000").endpoint
        'completions'
    """

    base_url: Union[str, list[str], None] = option(
        None, "Judge server URL(s); several are load-balanced with failover.", parse=str, repeat=True)
    model: Optional[str] = option(None, "Model name the server knows the judge by (None: the judge id).")
    api_key_env: Optional[str] = option(
        "OPENAI_API_KEY", "Environment variable holding the server's API key (sent as a bearer token when set).")
    endpoint: str = option(
        "completions",
        "'completions': the rendered judge input (exact chat formatting, score distributions available); "
        "'chat': judge messages to /v1/chat/completions, the server applies its chat template (generate mode only).",
        choices=ENDPOINTS)
    prompt_format: str = option(
        "auto",
        "How a completions prompt is sent: 'token_ids' (vLLM, SGLang, llama.cpp's llama-server accept a list of "
        "token ids), 'text', or 'auto' (token ids when the server accepts them, checked once).",
        choices=PROMPT_FORMATS)
    request_timeout: float = option(120.0, "Seconds one judge request may take before it is retried.")
    max_retries: int = option(3, "Retries of a failed judge request (connection errors, 429, 5xx), over all URLs.")
    max_concurrency: int = option(32, "Judge requests in flight at once.")
    top_logprobs: int = option(
        20, "Most log-probabilities asked per position when reading answer distributions from the top-k; never "
        "more than the server accepts (its limit is learnt from its refusal: vLLM's default is 20).")
    chosen_token_ids: bool = option(
        True, "Ask for the log-probabilities of the answer tokens themselves where the server offers it (vLLM's "
        "logprob_token_ids): exact at any rank, no top-k cut-off. Checked once; other servers use the top-k.")
    prompts_per_request: int = option(
        64, "Answer-distribution reads sent in one completions request as a list of token-id prompts, where the "
        "server takes lists (vLLM, SGLang; checked once). 1: one prompt per request.")

    def __post_init__(self) -> None:
        check_declared_types(self)
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint={self.endpoint!r} is not one of {ENDPOINTS}")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"prompt_format={self.prompt_format!r} is not one of {PROMPT_FORMATS}")
        check_positive_number("request_timeout", self.request_timeout)
        check_positive_int("max_retries", self.max_retries, allow_zero=True)
        check_positive_int("max_concurrency", self.max_concurrency)
        check_positive_int("top_logprobs", self.top_logprobs)
        check_positive_int("prompts_per_request", self.prompts_per_request)

    def capabilities(self) -> frozenset[str]:
        return endpoint_capabilities(self.endpoint)
