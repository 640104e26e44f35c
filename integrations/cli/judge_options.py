"""The judge options of every command, generated from `JudgeConfig` and the backends' option classes.

One list of options exists: the dataclass fields (with their help text, choices and parsers declared
by `reward_judge.options.option`). Each becomes a ``--flag`` that is absent unless given, so a judge
preset's card defaults stay in force unless the flag is passed.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Callable, Optional

from reward_judge.backends.registry import BACKEND_OPTIONS
from reward_judge.config import JudgeConfig


def option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _plain_type(hint: Any) -> Optional[type]:
    """``int``/``float``/``str``/``bool`` for a hint of that type or ``Optional`` of it, else ``None``."""
    if hint in (int, float, str, bool):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union and len(args) == 1 and args[0] in (int, float, str, bool):
        return args[0]
    return None


def _reader(name: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(f"{option_flag(name)}: {exc}") from None

    read.__name__ = name
    return read


def config_fields() -> list[tuple[str, dataclasses.Field, Any]]:
    """(group, field, type hint) of every option that has a command-line flag."""
    rows = []
    for owner, group in [(JudgeConfig, "judge")] + [(cls, f"{name} backend") for name, cls in BACKEND_OPTIONS.items()]:
        hints = typing.get_type_hints(owner)
        for f in dataclasses.fields(owner):
            if f.metadata.get("cli", True):
                rows.append((group, f, hints[f.name]))
    return rows


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--judge`` and one flag per configuration option to ``parser``."""
    groups: dict[str, Any] = {}
    judge = parser.add_argument_group("judge")
    groups["judge"] = judge
    judge.add_argument("--judge", default="default",
                       help="'default' (embedded demonstration judge), a hub id or a local folder")
    for group_name, f, hint in config_fields():
        group = groups.get(group_name) or groups.setdefault(group_name, parser.add_argument_group(group_name))
        meta = f.metadata
        # absent unless given, so "--fallback none" can still override a preset with None
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": meta.get("help", "")}
        plain = _plain_type(hint)
        if meta.get("choices"):
            kwargs["choices"] = [c for c in meta["choices"] if isinstance(c, str)]
        if plain is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif meta.get("parse") is not None:
            kwargs["type"] = _reader(f.name, meta["parse"])
        elif plain is not None:
            kwargs["type"] = plain
        elif meta.get("choices"):
            kwargs["type"] = str
        else:
            raise TypeError(f"option {f.name!r} ({hint}) needs a parse= function to have a command-line flag")
        if meta.get("repeat"):
            kwargs["action"] = "append"
            kwargs["help"] += " (repeatable)"
        group.add_argument(option_flag(f.name), **kwargs)


def judge_option_values(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line (flags not given are left to the preset)."""
    given = vars(args)
    return {f.name: given[f.name] for _, f, _ in config_fields() if f.name in given}


def build_reward_model(args: argparse.Namespace, **overrides: Any) -> Any:
    """The `GenerativeRewardModel` a command's judge options describe (``overrides`` win)."""
    from reward_judge import GenerativeRewardModel

    options = judge_option_values(args)
    options.update(overrides)
    try:
        return GenerativeRewardModel.from_pretrained(args.judge, **options)
    except (TypeError, ValueError) as exc:  # a bad option value: the message names it
        raise SystemExit(f"reward-judge: {exc}") from None
