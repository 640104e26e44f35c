"""The judge options of every command, generated from the option classes: `JudgeConfig`, `GroupOptions`, backends'.

One list of options exists: the dataclass fields (with their help text, choices and parsers declared
by `reward_judge.options.option`). Each becomes a ``--flag`` that is absent unless given, so a judge
preset's card defaults stay in force unless the flag is passed. Fields marked ``cli=False`` (those only
Python or a trainer can fill: objects, dataset columns, trainer hooks) have no flag.

A backend's options are namespaced by the backend's name (``--openai-base-url``,
``--transformers-batch-size``), so two backends with an option of the same name never collide, and a
flag of a backend other than ``--backend`` is an error rather than a guess.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Callable, Optional

from reward_judge.backends.registry import backend_names, get_backend
from reward_judge.config import DEFAULT_BACKEND, JudgeConfig
from reward_judge.groups.options import GroupOptions
from reward_judge.judges import DEFAULT_JUDGE

DEFAULTS_NOTE = ("Defaults shown are the library's; a judge's preset (see `reward-judge protocols`) sets its own "
                 "card defaults, and a flag given here wins over both.")


def option_flag(name: str, backend: Optional[str] = None) -> str:
    """``--max-new-tokens``; a backend option is prefixed by its backend: ``--openai-base-url``."""
    return "--" + (f"{backend}-" if backend else "") + name.replace("_", "-")


def _dest(name: str, backend: Optional[str]) -> str:
    return f"{backend}.{name}" if backend else name


def _plain_type(hint: Any) -> Optional[type]:
    """``int``/``float``/``str``/``bool`` for a hint of that type or ``Optional`` of it, else ``None``."""
    if hint in (int, float, str, bool):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union and len(args) == 1 and args[0] in (int, float, str, bool):
        return args[0]
    return None


def _reader(flag: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(f"{flag}: {exc}") from None

    read.__name__ = flag.lstrip("-")
    return read


@dataclasses.dataclass(frozen=True)
class Flag:
    """One command-line flag of a judge option: its field, its owner (``None``: core or groups) and its group."""

    field: dataclasses.Field
    hint: Any
    group: str
    backend: Optional[str] = None

    @property
    def flag(self) -> str:
        return option_flag(self.field.name, self.backend)

    @property
    def dest(self) -> str:
        return _dest(self.field.name, self.backend)


def judge_flags() -> list[Flag]:
    """Every judge option that has a command-line flag, core first, then the group options, then each backend's."""
    owners: list[tuple[type, str, Optional[str]]] = [(JudgeConfig, "judge", None),
                                                     (GroupOptions, "group rewards (pairwise and listwise)", None)]
    owners += [(get_backend(name).options, f"{name} backend (--backend {name})", name) for name in backend_names()]
    flags = []
    for owner, group, backend in owners:
        hints = typing.get_type_hints(owner)
        for f in dataclasses.fields(owner):
            if f.metadata.get("cli", True):
                flags.append(Flag(f, hints[f.name], group, backend))
    return flags


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
    else:
        return ""
    if value is None or value == {}:
        return " (default: none)"
    return f" (default: {value})"


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--judge`` and one flag per configuration option to ``parser``."""
    groups: dict[str, Any] = {}
    judge = groups["judge"] = parser.add_argument_group("judge", DEFAULTS_NOTE)
    judge.add_argument("--judge", default=DEFAULT_JUDGE,
                       help="'default' (embedded demonstration judge), a hub id or a local folder (default: default)")
    for flag in judge_flags():
        group = groups.get(flag.group) or groups.setdefault(flag.group, parser.add_argument_group(flag.group))
        f, meta = flag.field, flag.field.metadata
        # absent unless given, so "--fallback none" can still override a preset with None
        kwargs: dict[str, Any] = {"dest": flag.dest, "default": argparse.SUPPRESS,
                                  "help": meta.get("help", "") + _default_text(f)}
        plain = _plain_type(flag.hint)
        if meta.get("choices"):
            kwargs["choices"] = [c for c in meta["choices"] if isinstance(c, str)]
        elif f.name == "backend" and flag.backend is None:  # the registered backends, other packages' included
            kwargs["choices"] = list(backend_names())
        if plain is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif meta.get("parse") is not None:
            kwargs["type"] = _reader(flag.flag, meta["parse"])
        elif plain is not None:
            kwargs["type"] = plain
        elif meta.get("choices"):
            kwargs["type"] = str
        else:
            raise TypeError(f"option {f.name!r} ({flag.hint}) needs a parse= function to have a command-line flag")
        if "action" not in kwargs and "choices" not in kwargs:
            kwargs["metavar"] = f.name.upper()
        if meta.get("repeat"):
            kwargs["action"] = "append"
            kwargs["help"] += " (repeatable)"
        group.add_argument(flag.flag, **kwargs)


def judge_option_values(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, as flat ``from_pretrained`` keywords (flags not given are left out).

    A flag of a backend other than the chosen one is refused, naming both.
    """
    given = vars(args)
    backend = given.get("backend", DEFAULT_BACKEND)
    values: dict[str, Any] = {}
    for flag in judge_flags():
        if flag.dest not in given:
            continue
        if flag.backend is not None and flag.backend != backend:
            raise SystemExit(f"reward-judge: {flag.flag} is an option of backend {flag.backend!r}, but the backend is "
                             f"{backend!r}: pass --backend {flag.backend}, or leave {flag.flag} out")
        values[flag.field.name] = given[flag.dest]
    return values


def build_reward_model(args: argparse.Namespace, **overrides: Any) -> Any:
    """The `GenerativeRewardModel` a command's judge options describe (``overrides`` win)."""
    from reward_judge import GenerativeRewardModel

    options = judge_option_values(args)
    options.update(overrides)
    try:
        return GenerativeRewardModel.from_pretrained(args.judge, **options)
    except (TypeError, ValueError) as exc:  # a bad option value: the message names it
        raise SystemExit(f"reward-judge: {exc}") from None
