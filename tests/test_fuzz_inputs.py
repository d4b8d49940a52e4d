"""benchmarks/fuzz_inputs.py on a few hundred mutated inputs: every one gives a result or a
SpecError naming its file; nothing crashes, hangs, leaks or runs (the 10,000-case run and its
table are in the issue notes and README)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_inputs.py"


def test_mutated_inputs_give_a_result_or_a_spec_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cases", "240", "--seed", "7", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No defects." in done.stdout
    total = re.search(r"^\| all \| (\d+) \| (\d+) \| (\d+) \|$", done.stdout, re.MULTILINE)
    assert total is not None, done.stdout
    cases, results, errors = map(int, total.groups())
    assert cases == 240 and results + errors == 240
    assert results > 0 and errors > 0  # the mutations reach both outcomes
    assert not any(tmp_path.iterdir())  # no defect example was kept
