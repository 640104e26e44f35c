"""Rubrics from names, files, mappings and text; normalisation of scores into rewards."""

from __future__ import annotations

import json

import pytest

from reward_judge import Rubric, get_protocol, get_rubric, list_rubrics, normalize_score, normalize_winner
from reward_judge.rubric import resolve_rubric

pytestmark = pytest.mark.unit


def test_builtin_rubrics():
    names = list_rubrics()
    for name in ("helpfulness", "harmlessness", "honesty", "factual_correctness", "reasoning", "ko-reasoning",
                 "ko-math", "ko-writing", "ko-coding", "ko-understanding", "ko-grammar"):
        assert name in names and len(get_rubric(name).descriptions) == 5
    assert get_rubric("factual_validity") == get_rubric("factual_correctness")
    with pytest.raises(KeyError, match="Unknown rubric 'kindness'"):
        get_rubric("kindness")


def test_rubric_from_yaml_json_and_mapping(tmp_path):
    data = {"criteria": "Is it polite?", "score1_description": "Rude.", "score2_description": "Curt.",
            "score3_description": "Neutral.", "score4_description": "Polite.", "score5_description": "Warm."}
    (tmp_path / "r.json").write_text(json.dumps(data))
    (tmp_path / "r.yaml").write_text("criteria: Is it polite?\ndescriptions: [Rude., Curt., Neutral., Polite., Warm.]\n")
    from_json = resolve_rubric(str(tmp_path / "r.json"))
    assert from_json == resolve_rubric(str(tmp_path / "r.yaml")) == resolve_rubric(data)
    assert from_json.render().splitlines()[0] == "[Is it polite?]"
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        resolve_rubric(str(tmp_path / "nope.yaml"))


def test_rubric_needs_the_descriptions_the_protocol_needs():
    protocol = get_protocol("prometheus-v2")
    with pytest.raises(ValueError, match="missing \\['Score 4:', 'Score 5:'\\]"):
        protocol.render("Q", "A", rubric="[Is it good?]\nScore 1: bad\nScore 2: meh\nScore 3: ok")
    with pytest.raises(ValueError, match="needs a rubric with score descriptions for 1 to 5, got scores \\[1, 2, 3\\]"):
        protocol.render("Q", "A", rubric=Rubric("Is it good?", ["bad", "meh", "ok"]))
    with pytest.raises(ValueError, match="needs a rubric: rubric is required, got None"):
        protocol.render("Q", "A")
    with pytest.raises(ValueError, match="has no rubric slot"):
        get_protocol("autoj-single").render("Q", "A", rubric="helpfulness")
    with pytest.raises(ValueError, match="has no reference slot, but reference='R'"):
        get_protocol("autoj-single").render("Q", "A", reference="R")
    with pytest.raises(ValueError, match="needs a reference answer: reference is required, got None"):
        get_protocol("mtbench-math").render("Q", "A")
    with pytest.raises(ValueError, match="response_b is required"):
        get_protocol("mtbench-pair").render("Q", "A")
    with pytest.raises(ValueError, match="message_split='sideways' is not valid"):
        get_protocol("prometheus-v1", message_split="sideways")


def test_normalisation():
    assert normalize_score(1, (1, 5)) == 0.0 and normalize_score(5, (1, 5)) == 1.0
    assert normalize_score(3, (1, 5), "centered") == 0.0 and normalize_score(0, (0, 10), "centered") == -1.0
    assert normalize_score(7.5, (1, 10), "none") == 7.5
    assert normalize_score(4, (1, 5), lambda s: s * 10) == 40.0
    assert (normalize_winner("A"), normalize_winner("B"), normalize_winner("tie")) == (1.0, 0.0, 0.5)
    assert normalize_winner("B", "centered") == -1.0
    with pytest.raises(ValueError, match="normalize='softmax'"):
        normalize_score(3, (1, 5), "softmax")


def test_custom_protocol_validation():
    from reward_judge import CustomProtocol

    with pytest.raises(ValueError, match="must contain {response}"):
        CustomProtocol(template="{instruction} only")
    with pytest.raises(ValueError, match="unknown field"):
        CustomProtocol(template="{instruction} {response} {answer}")
    with pytest.raises(ValueError, match="needs a group capturing the score"):
        CustomProtocol(answer_pattern=r"\d+")
    p = CustomProtocol(template="Q: {instruction}\nA: {response}\nRef: {reference}", answer_pattern=r"S=(\d+)", range=(0, 3))
    assert p.reference_slot == "optional" and p.parse("S=2").score == 2 and p.parse("S=4").score is None
    assert p.version == CustomProtocol(template=p.template, answer_pattern=p.answer_pattern, range=(0, 3)).version


@pytest.mark.unit
def test_a_rows_rubric_is_never_opened_as_a_file(tmp_path):
    """A dataset column or a reward-server request could otherwise make the trainer or server read its files
    (their keys came back in the error message) or tell which exist (a missing one was a different error)."""
    from tests._scripted import scripted_model

    secret = tmp_path / "creds.json"
    secret.write_text(json.dumps({"aws_secret_access_key": "x", "criteria": "c"}))
    rm = scripted_model()
    for rubric in (str(secret), str(tmp_path / "missing.yaml")):
        with pytest.raises(ValueError, match="needs score descriptions 'Score 1:' to 'Score 5:'") as error:
            rm.score(["p"], ["x"], rubric=rubric)
        assert "aws" not in str(error.value)
    # the model's own rubric and score_rubrics' (trusted, given by whoever builds the judge or calls it: the reward
    # server sends a request's rubrics through score's per-row rubric) are still read from a file
    own = tmp_path / "polite.yaml"
    own.write_text("criteria: Is it polite?\ndescriptions: [Rude., Curt., Neutral., Polite., Warm.]\n")
    assert "Is it polite?" in scripted_model(rubric=str(own)).render("p", "x")
