"""From what a trainer hands a reward function (strings or chat messages) to judge inputs.

TRL gives prompts and completions as strings, or, for conversational datasets, as lists of
``{"role", "content"}`` messages. The judge gets:

- as the instruction, the last user turn; when the conversation has earlier turns (or a system
  message), they are written above it as context, one ``Role: text`` line block each, so a
  multi-turn request is judged with what it refers to; turns after it (an assistant's tool call and
  the tool's result the completion answers) follow it the same way;
- as the response, the text of the assistant message(s) of the completion, joined by blank lines. A prompt
  that ends with an assistant message (a prefill, which TRL's completion continues) starts the response.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def _content(message: Any, where: str) -> str:
    if not isinstance(message, Mapping) or "content" not in message:
        raise TypeError(f"{where} must be a chat message with 'role' and 'content', got {message!r:.80}")
    content = message["content"]
    if isinstance(content, list):  # multimodal-style content parts: keep the text parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    if not isinstance(content, str):
        raise TypeError(f"{where}['content'] must be a string, got {type(content).__name__}: {content!r:.80}")
    return content


def _turns(prompt: Any, name: str) -> "list[Mapping[str, Any]] | None":
    """The messages of a conversational prompt (each checked, its index named), or ``None`` for a string."""
    if isinstance(prompt, str):
        return None
    if isinstance(prompt, Sequence) and not isinstance(prompt, (bytes, bytearray)) and prompt:
        messages = list(prompt)
        for i, message in enumerate(messages):
            _content(message, f"{name}[{i}]")
        return messages
    raise TypeError(f"{name} must be a string or a list of chat messages, got {type(prompt).__name__}: {prompt!r:.80}")


def _last_user_turn(messages: "list[Mapping[str, Any]]", prompt: Any, name: str) -> int:
    user_turns = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not user_turns:
        raise ValueError(f"{name} is a conversation without a user turn: {prompt!r:.120}")
    return user_turns[-1]


def prompt_text(prompt: Any, name: str = "prompt") -> str:
    """The instruction the judge sees for a prompt (string or list of chat messages)."""
    messages = _turns(prompt, name)
    if messages is None:
        return prompt
    last = _last_user_turn(messages, prompt, name)
    after = messages[last + 1:]
    if after and after[-1].get("role") == "assistant":  # a prefill: the response's start (`prefill_text`)
        after = after[:-1]
    blocks = [f"{str(m.get('role', '')).capitalize()}: {_content(m, f'{name}[{i}]')}" for i, m in enumerate(messages)]
    return "\n\n".join(blocks[:last] + [_content(messages[last], f"{name}[{last}]")] + blocks[last + 1:last + 1 + len(after)])


def prefill_text(prompt: Any, name: str = "prompt") -> str:
    """The start of the response a prompt writes itself: its final assistant message after the last user turn
    (TRL continues it with ``continue_final_message``), or ``""``."""
    messages = _turns(prompt, name)
    if messages is None:
        return ""
    last = _last_user_turn(messages, prompt, name)
    if len(messages) > last + 1 and messages[-1].get("role") == "assistant":
        return _content(messages[-1], f"{name}[{len(messages) - 1}]")
    return ""


def completion_text(completion: Any, name: str = "completion") -> str:
    """The response text the judge sees for a completion (string or list of chat messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and not isinstance(completion, (bytes, bytearray)):
        parts = [
            _content(m, f"{name}[{i}]") for i, m in enumerate(completion)
            if not (isinstance(m, Mapping) and m.get("role") not in (None, "assistant"))
        ]
        return "\n\n".join(parts)
    raise TypeError(f"{name} must be a string or a list of chat messages, got {type(completion).__name__}: {completion!r:.80}")
