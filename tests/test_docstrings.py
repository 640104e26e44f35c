"""Every public docstring example runs as a doctest (examples that need a model or a server say ``+SKIP``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import reward_judge

pytestmark = pytest.mark.unit

#: Modules whose import needs a framework that is not a dependency of the core (they are tested elsewhere).
HEAVY = {"reward_judge.integrations.verl", "reward_judge.integrations.openrlhf"}


def _modules() -> list[str]:
    import reward_judge.integrations as glue  # installed as a subpackage from the top-level integrations/ folder

    names = {"reward_judge", "reward_judge.integrations"}
    for package, prefix in ((reward_judge, "reward_judge."), (glue, "reward_judge.integrations.")):
        for info in pkgutil.walk_packages(package.__path__, prefix):
            if info.name not in HEAVY and not info.name.endswith("__main__"):
                names.add(info.name)
    return sorted(names)


def _examples(name: str) -> list[doctest.DocTest]:
    """The module's own docstring examples (objects it imports from elsewhere are tested there)."""
    return [t for t in doctest.DocTestFinder(exclude_empty=True).find(importlib.import_module(name), name) if t.examples]


MODULES = _modules()


def test_the_walk_finds_the_packages():
    assert {"reward_judge.config", "reward_judge.backends.registry", "reward_judge.groups.options",
            "reward_judge.integrations.server"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in _examples(name):
        result = runner.run(test, out=lambda text: failures.append(text))
        assert result.failed == 0, "".join(failures)
