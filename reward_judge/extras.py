"""Optional dependencies: a feature that needs an extra says which one, instead of a bare ``ModuleNotFoundError``."""

from __future__ import annotations

import importlib.util


class MissingExtra(ImportError):
    """A feature was used without the optional dependencies it needs; the message names the extra to install."""


def require_extra(extra: str, *modules: str, feature: str) -> None:
    """Raise `MissingExtra` naming ``pip install 'reward-judge[extra]'`` when one of ``modules`` is not installed.

    Example:
        >>> require_extra("serve", "json", feature="the reward server")   # installed: nothing happens
        >>> require_extra("eval", "no_such_module_here", feature="reward-judge eval")
        Traceback (most recent call last):
        ...
        reward_judge.extras.MissingExtra: reward-judge eval needs the 'eval' extra (no_such_module_here is not installed): pip install 'reward-judge[eval]'
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(f"{feature} needs the {extra!r} extra ({', '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not installed): pip install 'reward-judge[{extra}]'")
