"""Which judge a reward-function file builds, from a small config file or environment variables.

OpenRLHF (``--reward.remote_url /path/openrlhf.py``) and verl (``custom_reward_function.path``) load a
reward function from a file and call it with their own arguments only, in each of their worker
processes; the judge is described outside the call:

- ``$REWARD_JUDGE_CONFIG`` (or verl's ``reward_kwargs.judge_config``): a YAML or JSON file with the
  fields of `JudgeSettings`;
- ``REWARD_JUDGE_<FIELD>`` environment variables, which override the file: ``REWARD_JUDGE_JUDGE``,
  ``REWARD_JUDGE_PROTOCOL`` (a name, or a JSON object of `CustomProtocol` fields),
  ``REWARD_JUDGE_RUBRIC``, ``REWARD_JUDGE_OPTIONS`` (JSON object of ``from_pretrained`` options),
  ``REWARD_JUDGE_POLICY_TEMPLATE``, ``REWARD_JUDGE_POLICY_TOKENIZER``, ``REWARD_JUDGE_FALLBACK_REWARD``,
  ``REWARD_JUDGE_MAX_BATCH_SIZE``, ``REWARD_JUDGE_MAX_WAIT_MS``, ``REWARD_JUDGE_URL``, ``REWARD_JUDGE_TIMEOUT``
  (``REWARD_JUDGE_API_KEY`` is read by the HTTP client itself).

The judge is built once per process and per settings (`shared_judge`), and concurrent calls from
the framework's threads are judged together (`batcher.ThreadedBatcher`).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from .batcher import ThreadedBatcher
from .policy_prompts import PolicyPromptReader

CONFIG_ENV = "REWARD_JUDGE_CONFIG"
ENV_PREFIX = "REWARD_JUDGE_"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JudgeSettings:
    """The judge behind a reward-function file, and how rows reach it.

    Example (``judge.yaml``)::

        judge: prometheus-eval/prometheus-7b-v2.0
        rubric: helpfulness
        options: {batch_size: 16, max_new_tokens: 256}
        policy_template: auto

    >>> JudgeSettings.load(environ={"REWARD_JUDGE_JUDGE": "default", "REWARD_JUDGE_FALLBACK_REWARD": "-1"}).fallback_reward
    -1.0
    """

    judge: str = "default"
    """Judge id: ``default`` (the embedded demo judge), a hub id or a local folder."""
    protocol: Union[str, Mapping[str, Any], None] = None
    """Protocol name, or the fields of a `CustomProtocol` (``template``, ``answer_pattern``, ``range``...)."""
    rubric: Optional[str] = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """More keyword arguments of `GenerativeRewardModel.from_pretrained` (``batch_size``, ``max_new_tokens``...)."""
    policy_template: str = "auto"
    """How prompts written with the policy's chat template are read: ``auto``, ``chatml``, ``llama3``,
    ``llama2`` / ``mistral``, ``gemma`` or ``none``."""
    policy_tokenizer: Optional[str] = None
    """The policy's tokenizer (folder or hub id): its chat template decides how prompts are read."""
    fallback_reward: float = 0.0
    """The reward sent where the judge gave no valid answer (the frameworks need a number); flagged."""
    max_batch_size: int = 64
    max_wait_ms: float = 20.0
    url: Union[str, list[str], None] = None
    """``reward-judge serve`` URL(s), for the functions that ask a server instead of judging in process."""
    timeout: float = 300.0
    """Seconds one call to the server may take before the fallback reward is used."""

    @classmethod
    def load(cls, path: Union[str, Path, None] = None, environ: Optional[Mapping[str, str]] = None) -> "JudgeSettings":
        """Settings from ``path`` (default ``$REWARD_JUDGE_CONFIG``), then ``REWARD_JUDGE_*`` variables."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = path or environ.get(CONFIG_ENV) or None
        if path is not None:
            values.update(_read_file(Path(path)))
        names = {f.name: f for f in dataclasses.fields(cls)}
        for name in names:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = _from_env(name, raw)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if isinstance(self.max_batch_size, bool) or not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be a positive integer, got {self.max_batch_size!r}")
        for name in ("fallback_reward", "max_wait_ms", "timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not isinstance(self.options, Mapping):
            raise ValueError(f"options must be a mapping of from_pretrained options, got {self.options!r}")
        PolicyPromptReader(self.policy_template)  # raises with the accepted names

    def key(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)

    def build_reward_model(self) -> Any:
        from reward_judge import CustomProtocol, GenerativeRewardModel

        protocol: Any = self.protocol
        if isinstance(protocol, Mapping):
            fields = dict(protocol)
            if "range" in fields:
                fields["range"] = tuple(fields["range"])
            protocol = CustomProtocol(**fields)
        return GenerativeRewardModel.from_pretrained(self.judge, protocol=protocol, rubric=self.rubric, **self.options)

    def build_policy_reader(self) -> PolicyPromptReader:
        if self.policy_tokenizer:
            return PolicyPromptReader.from_tokenizer(self.policy_tokenizer, template=self.policy_template)
        return PolicyPromptReader(self.policy_template)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(f"{CONFIG_ENV}: judge settings file {str(path)!r} does not exist")
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:  # both name the line
        raise ValueError(f"judge settings file {str(path)!r} is not valid {path.suffix or 'YAML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"judge settings file {str(path)!r} must hold a mapping of settings, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(JudgeSettings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"judge settings file {str(path)!r}: unknown setting(s) {unknown}; known: {sorted(known)}")
    return data


def _from_env(name: str, raw: str) -> Any:
    variable = ENV_PREFIX + name.upper()
    try:
        if name in ("options",):
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            return value
        if name == "protocol":
            return json.loads(raw) if raw.lstrip().startswith("{") else raw
        if name == "url":
            urls = [u.strip() for u in raw.split(",") if u.strip()]
            return urls if len(urls) > 1 else urls[0]
        if name == "max_batch_size":
            return int(raw)
        if name in ("fallback_reward", "max_wait_ms", "timeout"):
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"${variable} has a bad value {raw!r}: {exc}") from None
    return raw


@dataclass
class SharedJudge:
    """One judge per process, read prompts with the policy's template, concurrent calls batched.

    Example:
        >>> judge = shared_judge(JudgeSettings(judge="default"))                        # doctest: +SKIP
        >>> turn = judge.policy.split(query, prompt)                                   # doctest: +SKIP
        >>> judge.reward(judge.batcher.score([turn.prompt], [turn.completion])[0])     # doctest: +SKIP
        0.75
    """

    settings: JudgeSettings
    batcher: ThreadedBatcher
    policy: PolicyPromptReader

    def reward(self, result: Any) -> float:
        return self.settings.fallback_reward if result.reward is None else float(result.reward)


_SHARED: dict[str, SharedJudge] = {}
_SHARED_LOCK = threading.Lock()
_LOADED: dict[tuple[Any, ...], JudgeSettings] = {}


def current_settings(path: Union[str, Path, None] = None) -> JudgeSettings:
    """`JudgeSettings.load` for this process's environment, read again only when it or the file changes.

    Reward functions are called for every sample; this keeps them from parsing the file each time.
    """
    environ = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    source = path or environ.get(CONFIG_ENV)
    try:
        stamp = Path(source).stat().st_mtime_ns if source else None
    except OSError:
        stamp = None  # load() names the missing file
    key = (str(path), tuple(sorted(environ.items())), stamp)
    with _SHARED_LOCK:
        if key not in _LOADED:
            _LOADED[key] = JudgeSettings.load(path, environ)
        return _LOADED[key]


def shared_judge(settings: Optional[JudgeSettings] = None) -> SharedJudge:
    """The process's judge for ``settings`` (default: `current_settings`), built on first use."""
    settings = settings or current_settings()
    key = settings.key()
    with _SHARED_LOCK:  # callers arrive from many threads at once; the judge is loaded once
        if key not in _SHARED:
            rm = settings.build_reward_model()
            batcher = ThreadedBatcher(rm, max_batch_size=settings.max_batch_size, max_wait_ms=settings.max_wait_ms)
            atexit.register(batcher.close)  # finish what is queued, stop the loop thread
            _SHARED[key] = SharedJudge(settings, batcher, settings.build_policy_reader())
        return _SHARED[key]


_REMOTES: dict[tuple[str, float], Any] = {}


def shared_remote(url: Union[str, list[str], tuple[str, ...], None], settings: JudgeSettings) -> Any:
    """The process's `remote.RemoteRewardModel` for ``url`` (default: the settings' ``url``), built on first use.

    It answers ``None`` for rollouts no server judged in time, which the reward functions map to
    ``fallback_reward`` and flag.
    """
    from .remote import RemoteRewardModel

    target = url or settings.url
    if not target:
        raise ValueError("no reward server: set $REWARD_JUDGE_URL (or url in the judge settings file, or "
                         "+reward.custom_reward_function.reward_kwargs.url=http://host:port for verl)")
    key = (json.dumps(target), settings.timeout)
    with _SHARED_LOCK:
        if key not in _REMOTES:
            _REMOTES[key] = RemoteRewardModel(target, timeout=settings.timeout, fallback=None, name="reward_judge")
        return _REMOTES[key]


_POLICIES: dict[str, PolicyPromptReader] = {}


def shared_policy(settings: JudgeSettings) -> PolicyPromptReader:
    """The process's `PolicyPromptReader` for ``settings`` (for functions that send prompts to a server)."""
    key = settings.key()
    with _SHARED_LOCK:
        if key not in _POLICIES:
            _POLICIES[key] = settings.build_policy_reader()
        return _POLICIES[key]


_noted: set[tuple[str, str]] = set()


def readable_columns(rm: Any) -> tuple[bool, bool]:
    """(whether the judge reads a reference answer, whether it reads a rubric): its protocols' slots."""
    return (rm.protocol.reference_slot != "none" or rm.reference_protocol is not None,
            any(p.uses_rubric for p in rm.protocols))


def fit_columns(rm: Any, rows: Sequence[tuple[Any, str, Optional[str], Optional[str]]]
                ) -> list[tuple[Any, str, Optional[str], Optional[str]]]:
    """(prompt, response, reference, rubric) ``rows`` without the references or rubrics the judge's protocol has
    no slot for: a dataset's ground truth (verl's ``ground_truth``, OpenRLHF's labels, slime's ``--label-key``)
    serves rule-based rewards too, and must not break a judge that does not read it (noted once, as the TRL
    reward call does)."""
    keep_reference, keep_rubric = readable_columns(rm)
    for kept, column in ((keep_reference, "label"), (keep_rubric, "metadata['rubric']")):
        if not kept and (rm.protocol.name, column) not in _noted and \
                any(r[2 if column == "label" else 3] is not None for r in rows):
            _noted.add((rm.protocol.name, column))
            logger.info("sample %s ignored: protocol %s has no slot for it", column, rm.protocol.name)
    return [(p, c, ref if keep_reference else None, rub if keep_rubric else None) for p, c, ref, rub in rows]
