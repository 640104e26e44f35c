"""Write a judge as a plain Hugging Face folder that any serving engine loads (vLLM, SGLang, TGI, ``transformers serve``).

The folder holds the model weights (safetensors), the tokenizer with its chat template, and a config
with no GGUF quantization entry. A LoRA judge (an adapter folder, or a preset such as
``heegyu/ko-prometheus-8b-lora-0708``) is merged into its base model, so the engine needs no adapter
support. The embedded ``"default"`` judge is copied from its converted folder.

Example:
    >>> export_judge("default", "/tmp/judge")                      # doctest: +SKIP
    PosixPath('/tmp/judge')
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Optional, Union

logger = logging.getLogger(__name__)

#: Files of a converted judge folder that an engine reads (weights, config, tokenizer, chat template).
_COPIED = ("*.safetensors", "*.json", "*.jinja", "*.model", "*.txt", "*.tiktoken")


def export_judge(judge: str, folder: Union[str, Path], *, dtype: Optional[str] = None, revision: Optional[str] = None,
                 trust_remote_code: bool = False, overwrite: bool = False) -> Path:
    """Write ``judge`` (``"default"``, a hub id or a local folder) into ``folder``; returns the folder.

    ``dtype`` (``float32``, ``bfloat16``, ``float16``) converts the weights; ``None`` keeps them as they are.
    A non-empty ``folder`` is refused unless ``overwrite``.
    """
    target = Path(folder)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ValueError(f"folder {str(target)!r} is not empty: choose an empty or new folder (or overwrite=True)")
    if dtype not in (None, "float32", "bfloat16", "float16"):
        raise ValueError(f"dtype={dtype!r} is not one of None, 'float32', 'bfloat16', 'float16'")
    target.mkdir(parents=True, exist_ok=True)
    from .judges import DEFAULT_JUDGE

    if judge == DEFAULT_JUDGE and dtype in (None, "float32"):
        from .embedded import embedded_judge_path

        source, _ = embedded_judge_path()
        for pattern in _COPIED:
            for path in source.glob(pattern):
                shutil.copy2(path, target / path.name)
    else:
        _save_with_transformers(judge, target, dtype=dtype, revision=revision, trust_remote_code=trust_remote_code)
    _drop_quantization_entry(target)
    logger.info("exported judge %s to %s", judge, target)
    return target


def _save_with_transformers(judge: str, target: Path, *, dtype: Optional[str], revision: Optional[str],
                            trust_remote_code: bool) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .backends.transformers.backend import _resolve_adapter
    from .backends.transformers.options import TransformersOptions
    from .judges import DEFAULT_JUDGE
    from .presets import resolve_config

    if judge == DEFAULT_JUDGE:
        from .embedded import embedded_judge_path

        source = str(embedded_judge_path()[0])
        options = TransformersOptions()
    else:
        source = judge
        options = resolve_config(judge)[0].backend_options
    model_id, adapter = _resolve_adapter(source, options)
    kwargs = {"revision": revision, "trust_remote_code": trust_remote_code,
              "dtype": getattr(torch, dtype) if dtype else "auto"}
    model = AutoModelForCausalLM.from_pretrained(model_id, **kwargs)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    if hasattr(model.config, "quantization_config") and not _is_real_quantization(model.config.quantization_config):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def _is_real_quantization(entry: object) -> bool:
    method = entry.get("quant_method") if isinstance(entry, dict) else getattr(entry, "quant_method", None)
    return str(method) != "gguf"


def _drop_quantization_entry(folder: Path) -> None:
    """A GGUF entry beside de-quantised weights is false (and engines refuse it): take it out of config.json."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    entry = config.get("quantization_config")
    if entry is not None and not _is_real_quantization(entry):
        del config["quantization_config"]
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
