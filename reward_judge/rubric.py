"""Score rubrics: the ``[criteria]`` + ``Score N: ...`` block Prometheus-style judges read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

__all__ = ["Rubric", "RubricLike", "list_rubrics", "get_rubric", "resolve_rubric"]

_ALIASES = {"factual_validity": "factual_correctness", "factuality": "factual_correctness"}


@dataclass(frozen=True)
class Rubric:
    """A criterion and one description per score, rendered exactly as Prometheus was trained.

    Example:
        >>> r = Rubric("Is the answer correct?", ["Wrong.", "Mostly wrong.", "Partly right.",
        ...                                        "Mostly right.", "Fully right."])
        >>> print(r.render())
        [Is the answer correct?]
        Score 1: Wrong.
        Score 2: Mostly wrong.
        Score 3: Partly right.
        Score 4: Mostly right.
        Score 5: Fully right.
    """

    criteria: str
    descriptions: tuple[str, ...]
    first_score: int = 1

    def __init__(self, criteria: str, descriptions: Union[Sequence[str], Mapping[Any, str]], first_score: int = 1):
        if not isinstance(criteria, str) or not criteria.strip():
            raise ValueError(f"Rubric criteria must be a non-empty string, got {criteria!r}")
        if isinstance(descriptions, Mapping):
            by_score = {int(k): v for k, v in descriptions.items()}
            keys = sorted(by_score)
            if not keys or keys != list(range(keys[0], keys[0] + len(keys))):
                raise ValueError(f"Rubric descriptions must cover consecutive scores, got keys {keys!r}")
            first_score = keys[0]
            descriptions = [by_score[k] for k in keys]
        if isinstance(descriptions, str) or not all(isinstance(d, str) for d in descriptions):
            raise ValueError(f"Rubric descriptions must be a list of strings, got {descriptions!r}")
        object.__setattr__(self, "criteria", criteria)
        object.__setattr__(self, "descriptions", tuple(descriptions))
        object.__setattr__(self, "first_score", int(first_score))

    @property
    def scores(self) -> range:
        return range(self.first_score, self.first_score + len(self.descriptions))

    def render(self) -> str:
        lines = [f"[{self.criteria}]"]
        lines += [f"Score {s}: {d}" for s, d in zip(self.scores, self.descriptions)]
        return "\n".join(lines)

    def render_criteria(self) -> str:
        """Only the ``[criteria]`` line, as Prometheus 2's relative grading uses it."""
        return f"[{self.criteria}]"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Rubric":
        if "criteria" not in data:
            raise ValueError(f"A rubric mapping needs a 'criteria' key, got keys {sorted(data)!r}")
        if "descriptions" in data:
            return cls(data["criteria"], data["descriptions"])
        scored = {k[len("score"):-len("_description")]: v for k, v in data.items()
                  if k.startswith("score") and k.endswith("_description")}
        if not scored:
            raise ValueError(
                "A rubric mapping needs 'descriptions' or 'score1_description'... keys, "
                f"got keys {sorted(data)!r}"
            )
        return cls(data["criteria"], {int(k): v for k, v in scored.items()})

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Rubric":
        """Read a rubric from a ``.json``, ``.yaml`` or ``.yml`` file."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        if not isinstance(data, Mapping):
            raise ValueError(f"Rubric file {str(path)!r} must hold a mapping, got {type(data).__name__}")
        return cls.from_dict(data)


RubricLike = Union[Rubric, str, Mapping[str, Any], Path, None]


@lru_cache(maxsize=1)
def _builtin() -> dict[str, dict[str, Any]]:
    text = resources.files("reward_judge").joinpath("data/rubrics.json").read_text(encoding="utf-8")
    table = json.loads(text)
    for name, entry in list(table.items()):
        for alias in entry.get("aliases", []):
            _ALIASES[alias] = name
    return table


def list_rubrics() -> list[str]:
    """Names of the built-in rubrics (English ones from prometheus-eval, Korean ones from seed 001)."""
    return list(_builtin())


def get_rubric(name: str) -> Rubric:
    """A built-in rubric by name, e.g. ``"helpfulness"`` or ``"ko-math"`` (also ``"수학(Math)"``)."""
    table = _builtin()
    key = _ALIASES.get(name, name)
    if key not in table:
        raise KeyError(f"Unknown rubric {name!r}; built-in rubrics: {', '.join(table)}")
    entry = table[key]
    return Rubric(entry["criteria"], entry["descriptions"])


def resolve_rubric(value: RubricLike, *, files: bool = True) -> Union[Rubric, str, None]:
    """Turn what a user passes as ``rubric`` into a `Rubric` or a ready-rendered string.

    Accepts a `Rubric`, a built-in name, a path to a YAML/JSON file, a mapping, or any other string,
    which is taken as the already rendered rubric text and passed to the judge as it is.

    ``files=False`` is for rubrics that come with the data (a row's ``rubric`` column, a reward-server
    request): a string is never opened as a path there, so a row cannot make the trainer or the server
    read one of its files into a judge prompt or an error message; it is rubric text like any other.

    Example:
        >>> resolve_rubric("helpfulness").criteria.startswith("Does the model provide relevant")
        True
        >>> resolve_rubric("/etc/secrets.json", files=False)
        '/etc/secrets.json'
    """
    if value is None or isinstance(value, Rubric):
        return value
    if isinstance(value, Mapping):
        return Rubric.from_dict(value)
    if isinstance(value, Path):
        if not files:
            raise TypeError(f"rubric must be a Rubric, a name, a mapping or a string here (a row's rubric is never "
                            f"read from a file), got a path: {str(value)!r}")
        return Rubric.load(value)
    if not isinstance(value, str):
        raise TypeError(f"rubric must be a Rubric, a name, a file path, a mapping or a string, got {type(value).__name__}: {value!r}")
    table = _builtin()
    if _ALIASES.get(value, value) in table:
        return get_rubric(value)
    if files and value.lower().endswith((".yaml", ".yml", ".json")) and "\n" not in value:
        if not Path(value).is_file():
            raise FileNotFoundError(f"rubric file {value!r} does not exist")
        return Rubric.load(value)
    return value
