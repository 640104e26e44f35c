"""From what a trainer hands a reward function (strings or chat messages) to judge inputs.

TRL gives prompts and completions as strings, or, for conversational datasets, as lists of
``{"role", "content"}`` messages. The judge gets:

- as the instruction, the last user turn; when the conversation has earlier turns (or a system
  message), they are written above it as context, one ``Role: text`` line block each, so a
  multi-turn request is judged with what it refers to;
- as the response, the text of the assistant message(s) of the completion, joined by blank lines.
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


def prompt_text(prompt: Any, name: str = "prompt") -> str:
    """The instruction the judge sees for a prompt (string or list of chat messages)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and not isinstance(prompt, (bytes, bytearray)) and prompt:
        messages = list(prompt)
        user_turns = [i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"]
        if not user_turns:
            raise ValueError(f"{name} is a conversation without a user turn: {prompt!r:.120}")
        last = user_turns[-1]
        request = _content(messages[last], f"{name}[{last}]")
        context = [
            f"{str(m.get('role', '')).capitalize()}: {_content(m, f'{name}[{i}]')}"
            for i, m in enumerate(messages[:last])
        ]
        return "\n\n".join(context + [request]) if context else request
    raise TypeError(f"{name} must be a string or a list of chat messages, got {type(prompt).__name__}: {prompt!r:.80}")


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
