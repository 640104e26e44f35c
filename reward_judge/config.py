"""`JudgeConfig`: every option of a generative reward model, in one place."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from .chat import CHAT_FORMATS
from .normalize import NORMALIZATIONS
from .protocols import JudgeProtocol
from .rubric import RubricLike

FALLBACK_RAISE = "raise"
TRUNCATION_POLICIES = ("head_tail", "fail")
BACKENDS = ("transformers", "openai")
MODES = ("generate", "expected", "direct")


@dataclass
class JudgeConfig:
    """Options of a `GenerativeRewardModel`. Presets fill in what a judge's model card uses; every
    field given explicitly wins over the preset.

    Example:
        >>> cfg = JudgeConfig(protocol="prometheus-v2", rubric="helpfulness", batch_size=16)
        >>> cfg.replace(max_new_tokens=128).max_new_tokens
        128
    """

    # ---------------------------------------------------------------- protocol
    protocol: Union[str, JudgeProtocol, None] = None
    """Judge protocol name (see `list_protocols`) or a protocol object; ``None`` takes the preset's."""
    protocol_options: dict[str, Any] = field(default_factory=dict)
    """Protocol options such as ``{"message_split": "user"}``; presets use them to copy a card."""
    reference_protocol: Optional[str] = None
    """Protocol used for rows that carry a reference answer (MT-Bench/Ko-Bench: the math prompt)."""
    rubric: RubricLike = None
    """Default rubric: a `Rubric`, a built-in name, a YAML/JSON path or rubric text."""
    chat_format: str = "template"
    """``"template"`` (the tokenizer's chat template), ``"llama2"``, ``"mistral"`` or ``"raw"``."""

    # ----------------------------------------------------------------- scoring
    mode: str = "generate"
    """How a score is read. ``"generate"``: the judge writes its feedback and the score is parsed
    (the cards' way). ``"expected"``: after the feedback the answer marker (``[RESULT] ``,
    ``Rating: [[``) is ensured and the judge's probability over the valid answers is read; the score
    is the probability-weighted mean (continuous, never a parse failure). ``"direct"``: no feedback,
    the marker is placed right after the prompt and the distribution read in one forward pass."""

    # ---------------------------------------------------------------- decoding
    batch_size: int = 8
    """Judge inputs per forward batch."""
    batch_tokens: Optional[int] = None
    """Cap on padded tokens per batch (rows x longest row), for long or uneven inputs; ``None``: rows only."""
    prefix_cache: bool = True
    """Compute the prompt prefix shared by a batch's rows (rollouts of one prompt) once and reuse its KV cache."""
    max_new_tokens: int = 512
    """Upper bound on the judge's answer length in tokens."""
    do_sample: bool = False
    """Sample the judge's answer (``False``: greedy, reproducible rewards)."""
    temperature: float = 1.0
    """Sampling temperature (used when ``do_sample`` and for retries)."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    top_k: Optional[int] = None
    """Top-k sampling cut-off (``None``: off)."""
    repetition_penalty: float = 1.0
    """Repetition penalty, 1.0 is off (Prometheus cards use 1.03)."""
    seed: int = 0
    """Base seed for sampled judging; retry ``k`` uses ``seed + k``."""

    # ------------------------------------------------------------------ loading
    dtype: Optional[str] = "auto"
    """Weights dtype: ``"auto"``, ``"float32"``, ``"bfloat16"``, ``"float16"``."""
    device: Optional[str] = None
    """Device to move the judge to (``None``: CUDA when available, else CPU)."""
    device_map: Any = None
    """Passed to ``from_pretrained`` (e.g. ``"auto"`` to shard a large judge over GPUs)."""
    load_in_4bit: bool = False
    """Load the judge in 4-bit with bitsandbytes (GPU only)."""
    load_in_8bit: bool = False
    """Load the judge in 8-bit with bitsandbytes (GPU only)."""
    adapter: Optional[str] = None
    """PEFT adapter id or path applied on top of the judge (or of ``base_model``)."""
    base_model: Optional[str] = None
    """Base model an adapter is loaded onto (presets fill it in for LoRA judges)."""
    tokenizer: Optional[str] = None
    """Tokenizer id or path when it differs from the judge's."""
    revision: Optional[str] = None
    """Hub revision of the judge."""
    trust_remote_code: bool = False
    """Passed to transformers."""

    # ------------------------------------------------------------ judge server
    backend: str = "transformers"
    """``"transformers"`` (judge runs in this process) or ``"openai"`` (an OpenAI-compatible server)."""
    base_url: Union[str, list[str], None] = None
    """Judge server URL(s) for ``backend="openai"``; several are load-balanced with failover."""
    model: Optional[str] = None
    """Model name the server knows the judge by (``None``: the judge id)."""
    api_key_env: Optional[str] = "OPENAI_API_KEY"
    """Environment variable holding the server's API key (sent only when set)."""
    openai_endpoint: str = "completions"
    """``"completions"`` (rendered judge text, exact chat formatting) or ``"chat"`` (server applies its template)."""
    request_timeout: float = 120.0
    """Seconds one judge request may take before it is retried."""
    max_retries: int = 3
    """Retries of a failed judge request (connection errors, 429, 5xx), over all URLs."""
    max_concurrency: int = 32
    """Judge requests in flight at once."""
    logprobs: bool = False
    """Check at start-up that the server returns token logprobs (score-distribution modes need them)."""

    # --------------------------------------------------------------- rewarding
    normalize: Union[str, Callable[[float], float]] = "linear"
    """``"linear"`` ([0, 1]), ``"centered"`` ([-1, 1]), ``"none"`` (raw score) or a callable."""
    max_attempts: int = 2
    """Times the judge is asked before the fallback applies (retries sample with a new seed)."""
    retry_temperature: float = 0.7
    """Temperature of retries (retries always sample, so they can differ from the first answer)."""
    fallback: Union[None, float, str] = None
    """Reward when no valid answer is obtained: ``None`` (TRL drops the sample), a number, or ``"raise"``."""

    # ------------------------------------------------------------ trainer glue
    reference_column: Optional[str] = "reference"
    """Dataset column (TRL reward kwarg) holding the reference answer; ``None`` ignores references."""
    rubric_column: Optional[str] = "rubric"
    """Dataset column holding a per-row rubric; ``None`` always uses the model's rubric."""
    log_feedback: bool = True
    """Send the judge's feedback to TRL's completions table (``log_extra``) and its counters to ``log_metric``."""

    # ------------------------------------------------------------- reliability
    cache: Any = None
    """Reward cache: ``None`` off, ``True`` in memory, a file path (SQLite, shared by processes) or a `JudgeCache`."""
    cache_sampled: bool = False
    """Also cache sampled judging (``do_sample=True``); off because a cached draw repeats instead of resampling."""
    cache_memory_size: int = 100_000
    """Entries kept in the in-memory LRU in front of the cache file."""
    max_input_tokens: Optional[int] = None
    """Longest judge input in tokens; ``None``: the judge's context length minus ``max_new_tokens`` when known."""
    truncation: str = "head_tail"
    """Over-long inputs: ``"head_tail"`` keeps the response's head and tail around a marker; ``"fail"`` skips
    the judge and counts a failure. The rubric and answer-format instructions are never cut."""

    def __post_init__(self) -> None:
        self.validate()

    def replace(self, **changes: Any) -> "JudgeConfig":
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        for name in ("batch_size", "max_new_tokens", "max_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not one of {MODES}")
        if self.batch_tokens is not None and (isinstance(self.batch_tokens, bool) or not isinstance(self.batch_tokens, int)
                                              or self.batch_tokens < 1):
            raise ValueError(f"batch_tokens must be a positive integer or None, got {self.batch_tokens!r}")
        for name in ("temperature", "retry_temperature"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {self.top_k!r}")
        if not isinstance(self.repetition_penalty, (int, float)) or self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be a positive number, got {self.repetition_penalty!r}")
        if self.chat_format not in CHAT_FORMATS:
            raise ValueError(f"chat_format={self.chat_format!r} is not one of {CHAT_FORMATS}")
        if not callable(self.normalize) and self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize={self.normalize!r} is not one of {NORMALIZATIONS} or a callable")
        if self.fallback is not None and self.fallback != FALLBACK_RAISE:
            if isinstance(self.fallback, bool) or not isinstance(self.fallback, (int, float)):
                raise ValueError(f"fallback must be None, a number or 'raise', got {self.fallback!r}")
        if self.load_in_4bit and self.load_in_8bit:
            raise ValueError("load_in_4bit and load_in_8bit are exclusive; got both True")
        if isinstance(self.cache_memory_size, bool) or not isinstance(self.cache_memory_size, int) or self.cache_memory_size < 0:
            raise ValueError(f"cache_memory_size must be a non-negative integer, got {self.cache_memory_size!r}")
        if self.cache is not None and not isinstance(self.cache, (bool, str, os.PathLike)) \
                and type(self.cache).__name__ != "JudgeCache":
            raise ValueError(f"cache must be None, True, a file path or a JudgeCache, got {self.cache!r}")
        if self.max_input_tokens is not None and (isinstance(self.max_input_tokens, bool)
                                                  or not isinstance(self.max_input_tokens, int) or self.max_input_tokens < 1):
            raise ValueError(f"max_input_tokens must be a positive integer or None, got {self.max_input_tokens!r}")
        if self.truncation not in TRUNCATION_POLICIES:
            raise ValueError(f"truncation={self.truncation!r} is not one of {TRUNCATION_POLICIES}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r} is not one of {BACKENDS}")
        if self.openai_endpoint not in ("completions", "chat"):
            raise ValueError(f"openai_endpoint={self.openai_endpoint!r} is not 'completions' or 'chat'")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {self.max_retries!r}")
        if isinstance(self.max_concurrency, bool) or not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, got {self.max_concurrency!r}")
        if not isinstance(self.request_timeout, (int, float)) or self.request_timeout <= 0:
            raise ValueError(f"request_timeout must be a positive number of seconds, got {self.request_timeout!r}")
        if not isinstance(self.protocol_options, dict):
            raise ValueError(f"protocol_options must be a dict, got {self.protocol_options!r}")


CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(JudgeConfig))
