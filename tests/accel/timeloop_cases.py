"""Shared access to the Timeloop reference cases in ``tests/data/timeloop``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "timeloop"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "expected.json").is_file())


def expected(case: str) -> dict[str, Any]:
    return json.loads((DATA / case / "expected.json").read_text())


def input_files(case: str) -> list[Path]:
    return [DATA / case / name for name in expected(case)["inputs"]]
