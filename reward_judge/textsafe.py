"""Text that every tokenizer accepts: lone UTF-16 surrogates become U+FFFD.

Python strings may hold a lone surrogate (from ``surrogateescape`` decoding or a broken JSON
``"\\ud800"``); Rust tokenizers refuse them with a ``TypeError`` deep inside the model call. They
are replaced with U+FFFD (the replacement character) in the judge input, visibly, instead of
crashing the batch. Every other character (control characters, RTL marks, emoji) is kept as is.
"""

from __future__ import annotations


def tokenizable(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (valid surrogate pairs are joined).

    Example:
        >>> tokenizable("ok \\ud800 😀")
        'ok \\ufffd 😀'
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
