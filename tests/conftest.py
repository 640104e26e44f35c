"""Shared fixtures (the embedded judge is loaded once per test session) and the test tiers.

Every test carries exactly one tier marker, which says what it needs (see ``[tool.pytest.ini_options]``):
``unit`` (no model, no server, no subprocess: ``pytest -m unit`` is the inner loop), ``model`` (the embedded
judge in this process), ``process`` (servers, CLI runs or workers in other processes) and ``training`` (a
real trainer or an RL framework's own reward code). A ``unit`` test that asks for the judge or starts a
process fails, so the tier stays true.
"""

from __future__ import annotations

import subprocess

import pytest

from reward_judge import CustomProtocol, GenerativeRewardModel

# Prompts the 135M embedded judge completes with a number (it ignores Prometheus' answer format):
# plain text ending where the grade goes, so the next tokens are the grade. Honest, not a mock: the
# model still chooses the number, and it sometimes answers out of range (10), which must count as a
# failure. They are short, so tests stay fast on 2 CPU cores.
GRADE_PROTOCOL = CustomProtocol(
    custom_name="grade-1-9",
    template="Question: {instruction}\nAnswer: {response}\nGrade of the answer from 1 (wrong) to 9 (right): ",
    answer_pattern=r"^\s*(\d+)",
    range=(1, 9),
)
DIGIT = CustomProtocol(
    custom_name="digit-1-9",
    template="Question: {instruction}\nAnswer: {response}\nOn a scale of 1 to 9, the answer's score is",
    answer_pattern=r"(\d)",
    range=(1, 9),
)


TIERS = ("unit", "model", "process", "training")
#: Fixtures that load the embedded judge (or its files): a unit test may not use them.
MODEL_FIXTURES = frozenset({"default_judge", "grading_judge", "judge_backend", "make_rm", "exported_judge",
                            "vllm_server", "vllm_judge"})


def pytest_collection_modifyitems(config, items):
    problems = []
    for item in items:
        tiers = sorted({m.name for m in item.iter_markers() if m.name in TIERS})
        if len(tiers) != 1:
            problems.append(f"{item.nodeid}: tier markers {tiers or 'none'} (exactly one of {TIERS})")
        elif tiers[0] == "unit" and MODEL_FIXTURES & set(item.fixturenames):
            problems.append(f"{item.nodeid}: marked unit but uses {sorted(MODEL_FIXTURES & set(item.fixturenames))}")
    if problems:
        raise pytest.UsageError("test tiers:\n  " + "\n  ".join(problems))


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A unit test that starts a subprocess fails: mark it ``process``."""
    if request.node.get_closest_marker("unit") is not None:
        def refuse(self, *args, **kwargs):
            raise AssertionError(f"unit test {request.node.nodeid} started a subprocess {args[:1]}: mark it 'process'")

        monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    yield


@pytest.fixture(scope="session")
def default_judge() -> GenerativeRewardModel:
    """The embedded judge with its default preset (Prometheus 2 prompt), short answers for speed."""
    return GenerativeRewardModel.from_pretrained("default", max_new_tokens=24)


@pytest.fixture(scope="session")
def grading_judge(default_judge) -> GenerativeRewardModel:
    """The same loaded weights behind a prompt the tiny model answers with a number."""
    from reward_judge import JudgeConfig

    config = JudgeConfig(protocol=GRADE_PROTOCOL, chat_format="raw", max_new_tokens=6, max_attempts=2)
    return GenerativeRewardModel(default_judge.backend, config, judge="default", name="grade-judge")


@pytest.fixture(scope="session")
def judge_backend(default_judge):
    """The real embedded judge's backend, shared by every reward model of the session."""
    return default_judge.backend


@pytest.fixture
def make_rm(judge_backend):
    """Build a reward model on the shared backend with the digit protocol and any options."""

    def make(**options):
        options.setdefault("protocol", DIGIT)
        options.setdefault("chat_format", "raw")
        options.setdefault("max_new_tokens", 4)
        return GenerativeRewardModel.from_pretrained(judge_backend, **options)

    return make


@pytest.fixture(scope="session")
def exported_judge(tmp_path_factory):
    """The embedded judge written by `reward-judge export default DIR`: a plain folder serving engines load."""
    from reward_judge.export import export_judge

    return export_judge("default", tmp_path_factory.mktemp("exported") / "judge")


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory, exported_judge):
    """One vLLM OpenAI-compatible server for the session, on the exported embedded judge (see ``tests/_vllm.py``)."""
    from tests._vllm import require_vllm, start_vllm_server

    require_vllm()
    server = start_vllm_server(str(exported_judge), tmp_path_factory.mktemp("vllm-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vllm_judge(vllm_server, exported_judge):
    """The session's one in-process vLLM engine (``backend="vllm"``), started after the server (``tests/_vllm.py``).

    Tests derive reward models on it with ``with_options`` (another mode or protocol, the same engine).
    """
    from tests._vllm import ENGINE_OPTIONS

    judge = GenerativeRewardModel.from_pretrained("default", max_new_tokens=24, **ENGINE_OPTIONS)
    yield judge
    judge.close()


@pytest.fixture(scope="session")
def transformers_reference(default_judge):
    """``reference(judge, prompts, completions)``: the same configuration scored on the session's transformers
    backend (the same weights), computed once per configuration and rollouts for the whole session (the vLLM
    tests of both files compare with the same references)."""
    done: dict[tuple, list] = {}

    def reference(judge: GenerativeRewardModel, prompts, completions) -> list:
        # what changes a verdict: the scorer's own fields (mode, decoding), the protocol, rubric and formatting
        key = (repr(sorted(judge.scorer.cache_fields().items())), repr(judge.protocols), repr(judge.rubric),
               judge.config.chat_format, repr(judge.config.normalize), tuple(prompts), tuple(completions))
        if key not in done:
            config = judge.config.replace(backend="transformers")
            done[key] = GenerativeRewardModel(default_judge.backend, config, judge="default").score(prompts, completions)
        return done[key]

    return reference


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """ONE local Ray cluster for the whole session (starting one costs 10-20 s here): its address, ``host:port``.

    The processes the tests start join it (``--ray-address``) with ``RAY_AUTH_MODE=disabled`` in their environment.
    """
    pytest.importorskip("ray", reason="the 'ray' extra is not installed (pip install 'reward-judge[ray]')")
    from tests._servers import RayHead

    head = RayHead(tmp_path_factory.mktemp("ray") / "head.log")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        yield head.address
    head.stop()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """llama.cpp's OpenAI-compatible server (llama-cpp-python) on the embedded judge's GGUF file, one per session
    (test_llamacpp_server.py, and verl's router path in test_verl_router.py)."""
    import sys

    from reward_judge.embedded import gguf_path
    from tests._servers import ServerProcess, free_port

    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--logits_all", "true",
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"]
    proc = ServerProcess(argv, port, tmp_path_factory.mktemp("llamacpp") / "server.log", health="/v1/models")
    yield proc
    proc.stop()
