"""Which backends exist: a backend is one folder plus one registration (its name, options class and loader).

The built-in backends are registered below with their loaders named as ``"module:function"``, so that
reading the registry or an options class imports no framework. Another package registers its own
backend with `register_backend`, or through the entry-point group ``reward_judge.backends`` (each entry
point names a `BackendSpec`, or a function that returns one), read the first time a backend is looked up.

A loader is called as ``loader(context, options)``: the judge's `BackendContext` and an instance of the
backend's options class. It returns a `JudgeBackend`. Nothing else of the configuration reaches it.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Union

from .base import BackendContext, BackendOptions, JudgeBackend

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "reward_judge.backends"

Loader = Callable[[BackendContext, Any], JudgeBackend]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class BackendSpec:
    """One registered backend: its name, its options dataclass and its loader.

    Example:
        >>> spec = get_backend("openai")
        >>> spec.options.__name__, sorted(spec.make_options(base_url="http://127.0.0.1:8000").capabilities())
        ('OpenAIOptions', ['answer_logprobs', 'generate'])
    """

    name: str
    options: type
    #: ``loader(context, options) -> JudgeBackend``, or ``"module:function"`` imported on first use.
    loader: Union[str, Loader]

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.options))

    def make_options(self, **fields: Any) -> Any:
        """An instance of the options class; an unknown field is a ``TypeError`` naming the backend."""
        unknown = sorted(set(fields) - set(self.option_names))
        if unknown:
            raise TypeError(f"backend {self.name!r} has no option(s) {unknown}; its options: {list(self.option_names)}")
        return self.options(**fields)

    def capabilities(self, options: Any) -> frozenset[str]:
        """What a backend built with ``options`` can do, as its options declare it (`BackendOptions.capabilities`)."""
        declared = getattr(options, "capabilities", None)
        return frozenset(declared()) if callable(declared) else BackendOptions.capabilities(options)

    def load(self, context: BackendContext, options: Any) -> JudgeBackend:
        """Run the loader; anything but a `JudgeBackend` back is a ``TypeError`` naming the backend."""
        loader = self.loader
        if isinstance(loader, str):
            module, _, attr = loader.partition(":")
            loader = getattr(importlib.import_module(module), attr)
        backend = loader(context, options)  # type: ignore[operator]
        if not isinstance(backend, JudgeBackend):
            raise TypeError(f"the loader of backend {self.name!r} returned {type(backend).__name__}, not a JudgeBackend")
        return backend


_REGISTRY: dict[str, BackendSpec] = {}
#: Option names the core owns (name -> owner): a backend option of the same name would be ambiguous.
_RESERVED: dict[str, str] = {}
_entry_points_read = False
_entry_point_errors: dict[str, str] = {}


def reserve_option_names(names: Iterable[str], owner: str) -> None:
    """Declare option names of the core (``JudgeConfig``, the group options): no backend may use them.

    Raises ``ValueError`` naming both owners when an already registered backend has such an option.
    """
    for name in names:
        _RESERVED[name] = owner
        for spec in _REGISTRY.values():
            if name in spec.option_names:
                raise ValueError(f"option {name!r} belongs to both {owner} and backend {spec.name!r}")


def register_backend(name: str, options: type, loader: Union[str, Loader], *, replace: bool = False) -> BackendSpec:
    """Register a backend under ``name`` (what ``from_pretrained(..., backend=name)`` and ``--backend`` take).

    ``options`` is a dataclass of the backend's options (subclass `BackendOptions` to declare what it
    can do before it is loaded); ``loader(context, options)`` returns the `JudgeBackend`.

    Example:
        >>> from dataclasses import dataclass
        >>> from reward_judge.backends import BackendOptions
        >>> @dataclass
        ... class EchoOptions(BackendOptions):
        ...     answer: str = "[RESULT] 3"
        >>> spec = register_backend("doc-echo", EchoOptions, "my_package.echo:load")   # doctest: +SKIP
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"backend name must be lowercase letters, digits and '_' (starting with a letter), got {name!r}")
    if not (isinstance(options, type) and dataclasses.is_dataclass(options)):
        raise TypeError(f"backend {name!r}: options must be a dataclass, got {options!r}")
    if not (isinstance(loader, str) and ":" in loader) and not callable(loader):
        raise TypeError(f"backend {name!r}: loader must be a callable or 'module:function', got {loader!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"backend {name!r} is already registered (pass replace=True to replace it)")
    spec = BackendSpec(name, options, loader)
    for field_name in spec.option_names:
        if field_name in _RESERVED:
            raise ValueError(f"option {field_name!r} belongs to both {_RESERVED[field_name]} and backend {name!r}: "
                             "rename the backend's option")
    _REGISTRY[name] = spec
    return spec


def unregister_backend(name: str) -> None:
    """Remove a registered backend (tests and plugins that register temporarily)."""
    _REGISTRY.pop(name, None)


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = point.load()
            spec = target if isinstance(target, BackendSpec) else target()
            if isinstance(spec, BackendSpec) and spec.name not in _REGISTRY:
                register_backend(spec.name, spec.options, spec.loader)
            elif spec is not None and not isinstance(spec, BackendSpec):
                raise TypeError(f"it gave {type(spec).__name__}, not a BackendSpec")
        except Exception as exc:  # a broken plugin must not break every other backend: it is reported by name
            _entry_point_errors[point.name] = f"{type(exc).__name__}: {exc}"
            logger.warning("backend entry point %r (%s) failed to load: %s", point.name, point.value, exc)


def backend_names() -> tuple[str, ...]:
    """The registered backends, entry points included."""
    _read_entry_points()
    return tuple(_REGISTRY)


def get_backend(name: str) -> BackendSpec:
    """The registered backend ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in _REGISTRY:
        _read_entry_points()
    if name not in _REGISTRY:
        if name in _entry_point_errors:
            raise ValueError(f"backend={name!r}: its entry point failed to load ({_entry_point_errors[name]})")
        raise ValueError(f"backend={name!r} is not one of {backend_names()}")
    return _REGISTRY[name]


def _builtin() -> None:
    from .openai.options import OpenAIOptions
    from .transformers.options import TransformersOptions
    from .vllm.options import VLLMOptions

    register_backend("transformers", TransformersOptions, "reward_judge.backends.transformers.backend:load")
    register_backend("openai", OpenAIOptions, "reward_judge.backends.openai.backend:load")
    register_backend("vllm", VLLMOptions, "reward_judge.backends.vllm.backend:load")


_builtin()
