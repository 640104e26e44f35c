"""The README's GRPO example runs exactly as written, on a CPU, as a newcomer would paste it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.training

ROOT = Path(__file__).resolve().parents[1]


def readme_grpo_example() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"),
                        re.MULTILINE | re.DOTALL)
    examples = [b for b in blocks if "GRPOTrainer(" in b]
    assert len(examples) == 1, f"README.md should hold one GRPO example, found {len(examples)}"
    return examples[0]


def test_the_example_is_short_and_complete():
    code = readme_grpo_example()
    assert len(code.strip().splitlines()) <= 30
    ast.parse(code)  # valid Python, nothing left for the reader to fill in
    assert "use_cpu=True" in code and "bf16=False" in code and "report_to=[]" in code


def test_the_readme_grpo_example_runs_as_written(tmp_path):
    script = tmp_path / "readme_grpo.py"
    script.write_text(readme_grpo_example(), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # two GRPO steps of one prompt x 4 generations, every rollout judged
    assert "'rollouts': 8" in proc.stdout, proc.stdout[-2000:]
    assert "'fallbacks': 0" in proc.stdout
