"""Declaring options once: a dataclass field with its help text, its choices and how to read it from text.

`JudgeConfig` and every backend's options class declare their fields with `option`, so the documentation,
the validation messages and the command line (``integrations/cli/judge_options.py``) all come from one
list. This mirrors TRL's config dataclasses, whose ``metadata={"help": ...}`` feeds ``HfArgumentParser``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional, Sequence


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices: Optional[Sequence[Any]] = None,
           parse: Optional[Callable[[str], Any]] = None, repeat: bool = False, cli: bool = True,
           default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that carries its documentation.

    ``choices`` are the accepted values; ``parse`` turns command-line text into a value (for fields whose
    type is not a plain ``int``/``float``/``str``/``bool``); ``repeat`` makes the command-line flag
    repeatable into a list; ``cli=False`` keeps a field off the command line (Python objects only).

    Example:
        >>> from dataclasses import dataclass, fields
        >>> @dataclass
        ... class Opts:
        ...     size: int = option(8, "Rows per batch.")
        >>> fields(Opts)[0].metadata["help"]
        'Rows per batch.'
    """
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None, "parse": parse,
                "repeat": repeat, "cli": cli}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check_positive_int(name: str, value: Any, *, allow_none: bool = False, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` and ``value`` unless it is a positive (or non-negative) integer."""
    if value is None and allow_none:
        return
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} integer{' or None' if allow_none else ''}, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise ``ValueError`` naming ``name`` and ``value`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {tuple(choices)}")


def check_positive_number(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` and ``value`` unless it is a finite number above 0 (NaN and inf are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


#: Declared field types `check_declared_types` enforces, and what they accept.
_PLAIN_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "bool": ((bool,), "True or False"),
    "str": ((str,), "a string"),
    "Optional[str]": ((str, type(None)), "a string or None"),
}


def check_declared_types(options: Any) -> None:
    """Raise ``ValueError`` for a field declared ``bool``, ``str`` or ``Optional[str]`` holding something else.

    A flag given as text (``do_sample="no"`` from a YAML file or an environment variable) is truthy and would
    flip the setting without a word; a column name given as a number would never match a column.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Opts:
        ...     sample: bool = False
        >>> check_declared_types(Opts(sample="no"))
        Traceback (most recent call last):
        ...
        ValueError: sample must be True or False, got 'no' (str)
    """
    for f in dataclasses.fields(options):
        accepted = _PLAIN_TYPES.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""))
        if accepted is None:
            continue
        value = getattr(options, f.name)
        if not isinstance(value, accepted[0]) or (bool not in accepted[0] and isinstance(value, bool)):
            raise ValueError(f"{f.name} must be {accepted[1]}, got {value!r} ({type(value).__name__})")


def field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))
