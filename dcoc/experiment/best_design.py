"""Best-so-far of a run, read incrementally from its records database.

Co-design: :mod:`dcoc.search.network_best` (the best complete network design, shared by the
searches and the trainer; re-exported here). CPU schedules: the fastest valid measured
candidate (:class:`CpuBestTracker`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcoc.records import RECORDS_FILE
from dcoc.search.network_best import (  # the co-design best lives with the search
    COUNTED_METHODS,
    BestCoDesign,
    CoDesignBestTracker,
    LayerChoice,
    connect_read_only,
)

__all__ = [
    "COUNTED_METHODS",
    "BestCoDesign",
    "BestSchedule",
    "CoDesignBestTracker",
    "CpuBestTracker",
    "LayerChoice",
    "records_file",
]


def records_file(run_dir: Path) -> Path:
    return run_dir / RECORDS_FILE


@dataclass(frozen=True)
class BestSchedule:
    record_id: int
    workload: str
    latency_s: float
    design: dict[str, Any]
    trace: Any
    metrics: dict[str, Any]


class CpuBestTracker:
    """The fastest valid record (every method) and the number of records."""

    def __init__(self, records_path: Path) -> None:
        self.path = records_path
        self.evaluations = 0
        self.failed = 0
        self.best: BestSchedule | None = None
        self._last_id = 0

    def update(self) -> BestSchedule | None:
        if not self.path.exists():
            return self.best
        db = connect_read_only(self.path)
        try:
            rows = db.execute(
                "SELECT id, workload, valid, latency_s, design, trace, metrics FROM candidates "
                "WHERE id > ? AND target = 'cpu' ORDER BY id",
                (self._last_id,),
            ).fetchall()
        finally:
            db.close()
        for row in rows:
            self._last_id = int(row["id"])
            self.evaluations += 1
            if not row["valid"] or row["latency_s"] is None:
                self.failed += 1
                continue
            if self.best is None or row["latency_s"] < self.best.latency_s:
                self.best = BestSchedule(
                    int(row["id"]),
                    str(row["workload"]),
                    float(row["latency_s"]),
                    json.loads(row["design"]),
                    None if row["trace"] is None else json.loads(row["trace"]),
                    json.loads(row["metrics"]),
                )
        return self.best
