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


def conversation(prompt: Any, name: str = "prompt") -> tuple[str, str]:
    """(the instruction the judge sees, the start of the response the prompt writes itself) for a prompt.

    The second is the prompt's final assistant message after its last user turn (a prefill, which TRL
    continues with ``continue_final_message``), or ``""``. Every message is checked, its index named.

    Example:
        >>> conversation([{"role": "user", "content": "Is 91 prime?"}, {"role": "assistant", "content": "No:"}])
        ('Is 91 prime?', 'No:')
    """
    if isinstance(prompt, str):
        return prompt, ""
    if not isinstance(prompt, Sequence) or isinstance(prompt, (bytes, bytearray)) or not prompt:
        raise TypeError(f"{name} must be a string or a list of chat messages, got {type(prompt).__name__}: "
                        f"{prompt!r:.80}")
    texts = [_content(m, f"{name}[{i}]") for i, m in enumerate(prompt)]  # each a message (or named), first
    turns = [(str(m.get("role", "")), text) for m, text in zip(prompt, texts)]
    users = [i for i, (role, _) in enumerate(turns) if role == "user"]
    if not users:
        raise ValueError(f"{name} is a conversation without a user turn: {prompt!r:.120}")
    last = users[-1]
    after = turns[last + 1:]
    prefill = after.pop()[1] if after and after[-1][0] == "assistant" else ""
    blocks = [f"{role.capitalize()}: {text}" for role, text in turns[:last]] + [turns[last][1]]
    blocks += [f"{role.capitalize()}: {text}" for role, text in after]
    return "\n\n".join(blocks), prefill


def prompt_text(prompt: Any, name: str = "prompt") -> str:
    """The instruction the judge sees for a prompt (string or list of chat messages): `conversation`'s first part."""
    return conversation(prompt, name)[0]


def prefill_text(prompt: Any, name: str = "prompt") -> str:
    """The start of the response a prompt writes itself (`conversation`'s second part), or ``""``."""
    return conversation(prompt, name)[1]


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
