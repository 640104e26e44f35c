"""Backends by registry: a backend defined here, in the test file, is used like a built-in one.

It registers through `register_backend` (and, as another package would, through the entry-point group
``reward_judge.backends``), takes its own options through ``from_pretrained`` and the command line, and
goes through the one pipeline. Option names shared by two backends are namespaced on the command line;
a name shared with the core is refused at registration.
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from dataclasses import dataclass
from typing import Sequence

import pytest

from reward_judge import GenerativeRewardModel
from reward_judge.backends import registry
from reward_judge.backends.base import (GENERATE, BackendContext, BackendOptions, GenerationParams, JudgeBackend)
from reward_judge.backends.registry import get_backend, register_backend, unregister_backend
from reward_judge.judge_input import JudgeInput
from reward_judge.options import option

pytestmark = pytest.mark.unit


@dataclass
class ConstantOptions(BackendOptions):
    """A judge that always gives the same score."""

    score: int = option(4, "The score the judge always gives.")
    dtype: str = option("float32", "A dtype, named like the transformers backend's option.")


class ConstantBackend(JudgeBackend):
    name = "constant"

    def __init__(self, context: BackendContext, options: ConstantOptions):
        self.context = context
        self.options = options
        self.identity = f"constant:{context.name}:{options.score}"
        self.seen: list[str] = []

    def generate(self, inputs: Sequence[JudgeInput], params: GenerationParams) -> list[str]:
        self.seen += [i.text for i in inputs]
        return [f"Fine. [RESULT] {self.options.score}" for _ in inputs]


@pytest.fixture
def constant_backend():
    register_backend("constant", ConstantOptions, ConstantBackend)
    yield
    unregister_backend("constant")


def test_a_backend_registered_in_a_test_file_runs_through_the_pipeline(constant_backend):
    rm = GenerativeRewardModel.from_pretrained("my-judge", backend="constant", score=5, protocol="prometheus-v2",
                                               rubric="helpfulness", chat_format="raw", cache=True)
    assert rm.config.backend_options == ConstantOptions(score=5)
    assert rm.backend.context.name == "my-judge" and rm.backend.context.model == "my-judge"
    results = rm.score(["2+2?", "2+2?", "3+3?"], ["4", "4", "6"])
    assert [r.score for r in results] == [5, 5, 5] and [r.reward for r in results] == [1.0, 1.0, 1.0]
    assert rm.stats.duplicates_skipped == 1 and len(rm.backend.seen) == 2  # dedup ran before the backend
    again = rm.score(["2+2?"], ["4"])
    assert again[0].cached and len(rm.backend.seen) == 2  # and the cache
    assert get_backend("constant").option_names == ("score", "dtype")


def test_its_options_are_checked_and_named(constant_backend):
    with pytest.raises(TypeError, match="option batch_size=4 belongs to backend 'transformers', but backend='constant'"):
        GenerativeRewardModel.from_pretrained("j", backend="constant", batch_size=4)
    with pytest.raises(TypeError, match="unknown option 'scor'.*did you mean 'score'"):
        GenerativeRewardModel.from_pretrained("j", backend="constant", scor=4)
    # a mode the backend cannot serve is refused before anything is loaded
    with pytest.raises(ValueError, match="backend 'constant' cannot serve mode='direct'"):
        GenerativeRewardModel.from_pretrained("j", backend="constant", mode="direct", lazy=True)


def test_a_name_of_the_core_and_a_backend_is_an_error_naming_both():
    @dataclass
    class Clash(BackendOptions):
        seed: int = 0

    with pytest.raises(ValueError, match="option 'seed' belongs to both JudgeConfig and backend 'clash'"):
        register_backend("clash", Clash, ConstantBackend)

    @dataclass
    class GroupClash(BackendOptions):
        pairing: str = "x"

    with pytest.raises(ValueError, match="option 'pairing' belongs to both the group options"):
        register_backend("clash", GroupClash, ConstantBackend)
    with pytest.raises(ValueError, match="is not one of"):
        get_backend("clash")


def test_registration_refuses_what_is_not_a_backend():
    with pytest.raises(ValueError, match="backend name must be lowercase"):
        register_backend("Bad Name", ConstantOptions, ConstantBackend)
    with pytest.raises(TypeError, match="options must be a dataclass"):
        register_backend("nodataclass", dict, ConstantBackend)
    with pytest.raises(ValueError, match="'transformers' is already registered"):
        register_backend("transformers", ConstantOptions, ConstantBackend)
    register_backend("notabackend", ConstantOptions, lambda context, options: object())
    try:
        with pytest.raises(TypeError, match="loader of backend 'notabackend' returned object, not a JudgeBackend"):
            GenerativeRewardModel.from_pretrained("j", backend="notabackend", protocol="prometheus-v2",
                                                  rubric="helpfulness", chat_format="raw")
    finally:
        unregister_backend("notabackend")


def test_two_backends_with_an_option_of_the_same_name_on_the_command_line(constant_backend):
    """`dtype` belongs to transformers and to constant: namespaced flags, no crash, no guess."""
    from reward_judge.integrations.cli import make_parser
    from reward_judge.integrations.cli.judge_options import judge_option_values

    parser = make_parser()
    args = parser.parse_args(["score", "--input", "x", "--output", "y", "--backend", "constant",
                              "--constant-dtype", "bfloat16", "--constant-score", "2"])
    assert judge_option_values(args) == {"backend": "constant", "dtype": "bfloat16", "score": 2}
    args = parser.parse_args(["score", "--input", "x", "--output", "y", "--transformers-dtype", "float16"])
    assert judge_option_values(args) == {"dtype": "float16"}  # the default backend's
    args = parser.parse_args(["score", "--input", "x", "--output", "y", "--constant-dtype", "bfloat16"])
    with pytest.raises(SystemExit, match="--constant-dtype is an option of backend 'constant', but the backend is "
                                         "'transformers'"):
        judge_option_values(args)
    with pytest.raises(SystemExit):  # the bare name belongs to no one
        parser.parse_args(["score", "--input", "x", "--output", "y", "--dtype", "float16"])


def test_a_package_registers_a_backend_through_its_entry_point(tmp_path, monkeypatch):
    """An installed distribution with a ``reward_judge.backends`` entry point is found on first lookup."""
    package = tmp_path / "echo_judge_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass

        from reward_judge.backends import BackendOptions, BackendSpec, JudgeBackend


        @dataclass
        class EchoOptions(BackendOptions):
            score: int = 2


        class EchoBackend(JudgeBackend):
            name = "echo_plugin"
            identity = "echo"

            def __init__(self, context, options):
                self.options = options

            def generate(self, inputs, params):
                return [f"[RESULT] {self.options.score}" for _ in inputs]


        SPEC = BackendSpec("echo_plugin", EchoOptions, EchoBackend)
    '''))
    info = tmp_path / "echo_judge_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-judge-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[reward_judge.backends]\necho_plugin = echo_judge_plugin:SPEC\n"
                                           "broken_plugin = echo_judge_plugin:MISSING\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_read", False)
    monkeypatch.setattr(registry, "_entry_point_errors", {})
    try:
        assert "echo_plugin" in registry.backend_names()
        rm = GenerativeRewardModel.from_pretrained("j", backend="echo_plugin", score=5, protocol="prometheus-v2",
                                                   rubric="helpfulness", chat_format="raw")
        assert rm.score(["q"], ["a"])[0].score == 5
        # a broken plugin is reported by name, and breaks no other backend
        with pytest.raises(ValueError, match="backend='broken_plugin': its entry point failed to load"):
            get_backend("broken_plugin")
    finally:
        unregister_backend("echo_plugin")
        sys.modules.pop("echo_judge_plugin", None)


def test_capabilities_are_declared_by_the_options():
    assert get_backend("openai").capabilities(get_backend("openai").make_options(endpoint="chat")) == {GENERATE}
    assert "answer_logprobs" in get_backend("transformers").capabilities(get_backend("transformers").make_options())
    assert dataclasses.is_dataclass(get_backend("transformers").options)
