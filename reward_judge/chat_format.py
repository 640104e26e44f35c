"""Chat formatting: turn judge messages into the exact text the judge model reads.

A judge whose tokenizer has a chat template gets that template. Judges from before chat templates
(Prometheus 1, Auto-J on Llama-2; Prometheus 2 on Mistral) get the wrapper their cards build by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional, Sequence

logger = logging.getLogger(__name__)

Message = dict[str, str]

CHAT_FORMATS = ("template", "llama2", "mistral", "raw")


def llama2_wrap(messages: Sequence[Message]) -> str:
    """Llama-2-chat: ``[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user} [/INST]`` (no BOS: the tokenizer adds it)."""
    system, user = _system_and_user(messages)
    if system is None:
        return f"[INST] {user} [/INST]"
    return f"[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]"


def mistral_wrap(messages: Sequence[Message]) -> str:
    """Mistral as FastChat builds it for Prometheus 2: ``[INST] {system}\\n{user} [/INST]``."""
    system, user = _system_and_user(messages)
    if system is None:
        return f"[INST] {user} [/INST]"
    return f"[INST] {system}\n{user} [/INST]"


def raw_join(messages: Sequence[Message]) -> str:
    """No chat format: the message contents joined by a blank line (for base models)."""
    return "\n\n".join(m["content"] for m in messages if m["content"])


def _system_and_user(messages: Sequence[Message]) -> tuple[Optional[str], str]:
    roles = [m["role"] for m in messages]
    if roles not in (["user"], ["system", "user"]):
        raise ValueError(f"a legacy chat wrapper takes [system,] user messages, got roles {roles}")
    system = messages[0]["content"] if roles[0] == "system" else None
    return system, messages[-1]["content"]


@dataclass(frozen=True)
class ChatFormatter:
    """Renders judge messages to judge input text for one tokenizer.

    ``add_special_tokens`` tells the backend whether the tokenizer must still add BOS: a chat
    template writes its own special tokens, the legacy wrappers rely on the tokenizer's BOS.

    Example:
        >>> f = ChatFormatter("llama2")
        >>> f.format([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
        '[INST] <<SYS>>\\nS\\n<</SYS>>\\n\\nU [/INST]'
    """

    chat_format: str = "template"

    def __post_init__(self) -> None:
        if self.chat_format not in CHAT_FORMATS:
            raise ValueError(f"chat_format={self.chat_format!r} is not one of {CHAT_FORMATS}")

    @property
    def add_special_tokens(self) -> bool:
        return self.chat_format != "template"

    def format(self, messages: Sequence[Message], tokenizer: Any = None) -> str:
        if self.chat_format == "llama2":
            return llama2_wrap(messages)
        if self.chat_format == "mistral":
            return mistral_wrap(messages)
        if self.chat_format == "raw":
            return raw_join(messages)
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                "chat_format='template' needs a tokenizer with a chat template; this judge's tokenizer has none. "
                "Pass chat_format='llama2', 'mistral' or 'raw'."
            )
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
