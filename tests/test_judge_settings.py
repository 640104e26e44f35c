"""Which judge the OpenRLHF / verl reward-function files build: settings file, environment, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reward_judge.integrations.judge_settings import JudgeSettings, current_settings


@pytest.mark.unit
def test_file_then_environment(tmp_path):
    path = tmp_path / "judge.yaml"
    path.write_text("judge: default\nrubric: helpfulness\noptions: {max_new_tokens: 8}\nfallback_reward: -1\n"
                    "protocol: {custom_name: g, template: '{instruction} {response}', answer_pattern: '(\\d)', "
                    "range: [1, 9]}\n")
    settings = JudgeSettings.load(path, environ={"REWARD_JUDGE_MAX_BATCH_SIZE": "8",
                                                 "REWARD_JUDGE_URL": "http://127.0.0.1:1, http://127.0.0.1:2"})
    assert settings.rubric == "helpfulness" and settings.options == {"max_new_tokens": 8}
    assert settings.fallback_reward == -1 and settings.max_batch_size == 8
    assert settings.url == ["http://127.0.0.1:1", "http://127.0.0.1:2"] and settings.protocol["range"] == [1, 9]
    env = JudgeSettings.load(environ={"REWARD_JUDGE_CONFIG": str(path), "REWARD_JUDGE_RUBRIC": "harmlessness"})
    assert env.rubric == "harmlessness" and env.options == {"max_new_tokens": 8}


@pytest.mark.unit
def test_bad_settings_name_the_file_the_variable_and_the_value(tmp_path):
    path = tmp_path / "judge.json"
    path.write_text(json.dumps({"judge": "default", "max_batch": 4}))
    with pytest.raises(ValueError, match=r"judge\.json.*unknown setting\(s\) \['max_batch'\]"):
        JudgeSettings.load(path, environ={})
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"judge\.json' is not valid \.json.*line 1"):
        JudgeSettings.load(path, environ={})
    with pytest.raises(ValueError, match="does not exist"):
        JudgeSettings.load(environ={"REWARD_JUDGE_CONFIG": str(tmp_path / "missing.yaml")})
    with pytest.raises(ValueError, match=r"\$REWARD_JUDGE_OPTIONS has a bad value '\[1\]'"):
        JudgeSettings.load(environ={"REWARD_JUDGE_OPTIONS": "[1]"})
    with pytest.raises(ValueError, match=r"\$REWARD_JUDGE_MAX_WAIT_MS has a bad value 'soon'"):
        JudgeSettings.load(environ={"REWARD_JUDGE_MAX_WAIT_MS": "soon"})
    with pytest.raises(ValueError, match="max_batch_size must be a positive integer, got 0"):
        JudgeSettings.load(environ={"REWARD_JUDGE_MAX_BATCH_SIZE": "0"})
    with pytest.raises(ValueError, match="'qwen'"):
        JudgeSettings.load(environ={"REWARD_JUDGE_POLICY_TEMPLATE": "qwen"})


@pytest.mark.unit
def test_current_settings_follow_the_environment(monkeypatch):
    monkeypatch.setenv("REWARD_JUDGE_FALLBACK_REWARD", "0.25")
    assert current_settings().fallback_reward == 0.25
    monkeypatch.setenv("REWARD_JUDGE_FALLBACK_REWARD", "0.5")
    assert current_settings().fallback_reward == 0.5


@pytest.mark.process
def test_reward_file_command_prints_the_installed_files():
    import reward_judge.integrations.openrlhf as openrlhf
    import reward_judge.integrations.verl as verl

    for name, module in (("openrlhf", openrlhf), ("verl", verl)):
        done = subprocess.run([sys.executable, "-m", "reward_judge.integrations.cli", "reward-file", name],
                              capture_output=True, text=True, check=True)
        assert Path(done.stdout.strip()) == Path(module.__file__).resolve()
        assert "use:" in done.stderr


@pytest.mark.unit
def test_the_verl_router_asks_for_the_served_model_only_when_none_is_named():
    """verl's router may not serve /v1/models: a model named in the settings is used without asking."""
    from reward_judge.integrations.verl_router import router_settings
    from tests._servers import free_port

    address = f"127.0.0.1:{free_port()}"  # nothing listens there: any request would fail
    named = router_settings(JudgeSettings(options={"model": "judge-7b"}), address)
    assert named.options["model"] == "judge-7b" and named.options["base_url"] == f"http://{address}"
    with pytest.raises(ValueError, match=r"did not name its model on /v1/models.*set options.model"):
        router_settings(JudgeSettings(), address)
