"""The records database: every evaluated candidate of a run, in one SQLite file.

One file per run directory (``records.sqlite``), WAL journal, one commit per record, so
nothing evaluated is lost if the run dies later. Standard library only; the export of TVM
records to MetaSchedule's JSON database lives in :mod:`dcoc.tvm.ms_database`.

Tables (schema version :data:`SCHEMA_VERSION`, kept in ``meta``):

* ``workloads``: ``key`` (``"resnet18/C5"``, ``"matmul:512,512,512"``) and a JSON
  description of the layer.
* ``candidates``: one row per evaluation: target kind (``cpu`` | ``accel``), workload key,
  method, trial index, the design (decisions, hardware config) as JSON, the TVM trace as JSON,
  ``valid``, ``verified``, ``error``, and metrics: ``latency_s``, ``build_s``, ``run_s``
  (CPU); ``cycles``, ``energy_pj``, ``area_um2``, ``edp`` (accelerator); anything else in
  ``metrics`` JSON.
* ``llm_calls`` (version 2): one row per question to a language model (the tree search's LLM
  proposer, :mod:`dcoc.search.llm_proposer`): method, seed, call index, backend, the prompt,
  the raw answer (``NULL`` if none came), latency, the verdict (``kept`` or why the answer was
  rejected), a one-line detail, and a JSON ``context`` (the state, its transformation path,
  the numbered candidates, the picks kept, what was proposed in the end).
* ``search_paths`` (version 2): the best state a search found and the transformations that
  lead to it from its start, each with who proposed it (``steps`` JSON), one row per search.

A version-1 file is upgraded in place when opened (version 2 only adds the two tables); a file
of any other version is refused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dcoc.objective import Objective, unusable_numbers

SCHEMA_VERSION = 2
UPGRADABLE_VERSIONS = (1,)
"""Versions :meth:`RecordsDB.open` upgrades in place (their tables are a subset)."""
RECORDS_FILE = "records.sqlite"


class TargetKind(StrEnum):
    CPU = "cpu"
    ACCEL = "accel"


def objective_column(objective: Objective | str, target: TargetKind | str | None) -> str:
    """The candidates column (an SQL expression) that holds ``objective`` for ``target``:
    ``latency`` is ``latency_s`` on the CPU and ``cycles`` on the accelerator (either, when no
    target is given)."""
    objective = Objective.parse(objective)
    if objective is Objective.EDP:
        return "edp"
    if objective is Objective.ENERGY:
        return "energy_pj"
    if objective is Objective.LATENCY:
        if target is None:
            return "COALESCE(latency_s, cycles)"
        return "latency_s" if TargetKind(target) is TargetKind.CPU else "cycles"
    raise ValueError(f"the records hold no {objective.value}")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workloads (
    key TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL CHECK (target IN ('cpu', 'accel')),
    workload TEXT NOT NULL REFERENCES workloads(key),
    method TEXT NOT NULL,
    trial INTEGER NOT NULL,
    design TEXT NOT NULL,
    trace TEXT,
    valid INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    error TEXT,
    latency_s REAL,
    build_s REAL,
    run_s REAL,
    cycles INTEGER,
    energy_pj REAL,
    area_um2 REAL,
    edp REAL,
    metrics TEXT NOT NULL,
    timestamp REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS candidates_by_workload ON candidates (workload, target, valid);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    call INTEGER NOT NULL,
    backend TEXT NOT NULL,
    prompt TEXT NOT NULL,
    answer TEXT,
    latency_s REAL NOT NULL,
    verdict TEXT NOT NULL,
    detail TEXT,
    context TEXT NOT NULL,
    timestamp REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS search_paths (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    value REAL,
    design TEXT NOT NULL,
    steps TEXT NOT NULL,
    timestamp REAL NOT NULL
);
"""

_COLUMNS = (
    "target",
    "workload",
    "method",
    "trial",
    "design",
    "trace",
    "valid",
    "verified",
    "error",
    "latency_s",
    "build_s",
    "run_s",
    "cycles",
    "energy_pj",
    "area_um2",
    "edp",
    "metrics",
    "timestamp",
)


@dataclass(frozen=True)
class LlmCallRecord:
    """One question to a language model and what became of its answer. ``id`` is set once
    stored."""

    method: str
    seed: int
    call: int
    """Index of the call in its search (0 first)."""
    backend: str
    """Which model answered, e.g. ``llama.cpp:SmolLM2-135M-Instruct.Q4_1.gguf``."""
    prompt: str
    answer: str | None
    """The raw answer text; ``None`` if none came (timeout, unreachable, error)."""
    latency_s: float
    verdict: str
    """``kept``, or why the answer was not used (``not_json``, ``timeout``, ...)."""
    detail: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", _frozen(self.context))


@dataclass(frozen=True)
class SearchPathRecord:
    """The best state of one search and the transformations from its start to it."""

    method: str
    seed: int
    value: float | None
    """The search's own score of the state (higher is better), ``None`` if it scored none."""
    design: Mapping[str, Any]
    steps: tuple[Mapping[str, Any], ...]
    """In order; each says what the step does and who proposed it."""
    timestamp: float = field(default_factory=time.time)
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "design", _frozen(self.design))
        object.__setattr__(self, "steps", tuple(_frozen(s) for s in self.steps))


class ReplayMismatchError(RuntimeError):
    """A resumed search asked for another evaluation than its records hold at that point."""


def design_json(design: Mapping[str, Any]) -> str:
    """``design`` as the records store it, so a stored and a fresh design compare."""
    return json.dumps(dict(design), sort_keys=True)


class RecordsSchemaError(RuntimeError):
    """The file was written by an incompatible version of dcoc."""


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class CandidateRecord:
    """One evaluated candidate. ``id`` is set once stored."""

    target: TargetKind
    workload: str
    method: str
    trial: int
    design: Mapping[str, Any]
    valid: bool
    verified: bool = False
    error: str | None = None
    trace: Any = None  # JSON-able TVM trace (cpu)
    latency_s: float | None = None
    build_s: float | None = None
    run_s: float | None = None
    cycles: int | None = None
    energy_pj: float | None = None
    area_um2: float | None = None
    edp: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", TargetKind(self.target))
        object.__setattr__(self, "design", _frozen(self.design))
        object.__setattr__(self, "metrics", _frozen(self.metrics))
        if self.valid:  # a valid result must carry usable numbers, or it is a failure
            unusable = unusable_numbers(
                {"latency_s": self.latency_s, "cycles": self.cycles},
                {"energy_pj": self.energy_pj, "edp": self.edp, "area_um2": self.area_um2},
            )
            if unusable is not None:
                object.__setattr__(self, "valid", False)
                object.__setattr__(self, "error", unusable)

    def objective(self, objective: Objective | str) -> float | None:
        """The record's value of ``objective`` (``latency``: seconds on the CPU, cycles on the
        accelerator); ``None`` if it has none."""
        value = getattr(self, objective_column(objective, self.target))
        return None if value is None else float(value)


class RecordsDB:
    """The records of one run. Open with :meth:`open`; use as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @staticmethod
    def open(path: str | Path) -> RecordsDB:
        """Open (creating if needed) ``path``; a directory means ``path/records.sqlite``."""
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path.mkdir(parents=True, exist_ok=True)
            path = path / RECORDS_FILE
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        with db:
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if int(row["value"]) in UPGRADABLE_VERSIONS:  # the schema script added the new tables
            with db:
                db.execute(
                    "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                )
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if int(row["value"]) != SCHEMA_VERSION:
            db.close()
            raise RecordsSchemaError(
                f"{path}: records schema version {row['value']}, this dcoc reads "
                f"version {SCHEMA_VERSION}; use a new run directory"
            )
        return RecordsDB(db, path)

    def close(self) -> None:
        self.commit()
        self._db.close()

    def __enter__(self) -> RecordsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def add_workload(self, key: str, description: Mapping[str, Any]) -> None:
        """Register a workload (idempotent; the first description is kept)."""
        self._db.execute(
            "INSERT OR IGNORE INTO workloads VALUES (?, ?, ?)",
            (key, json.dumps(description, sort_keys=True), time.time()),
        )

    def add(self, record: CandidateRecord, *, commit: bool = True) -> int:
        """Store ``record``; return its id. Committed before returning, unless ``commit`` is
        false: then it joins an open transaction that :meth:`commit` ends (a search commits
        once per batch of evaluations; a crash loses at most the open batch, never a part of
        a record)."""
        if not commit and not self._db.in_transaction:
            self._db.execute("BEGIN")
        values = (
            str(record.target),
            record.workload,
            record.method,
            record.trial,
            design_json(record.design),
            None if record.trace is None else json.dumps(record.trace),
            int(record.valid),
            int(record.verified),
            record.error,
            record.latency_s,
            record.build_s,
            record.run_s,
            record.cycles,
            record.energy_pj,
            record.area_um2,
            record.edp,
            json.dumps(dict(record.metrics), sort_keys=True),
            record.timestamp,
        )
        placeholders = ", ".join("?" for _ in _COLUMNS)
        cursor = self._db.execute(
            f"INSERT INTO candidates ({', '.join(_COLUMNS)}) VALUES ({placeholders})", values
        )
        assert cursor.lastrowid is not None
        if commit and self._db.in_transaction:
            self._db.execute("COMMIT")
        return int(cursor.lastrowid)

    def add_llm_call(self, record: LlmCallRecord) -> int:
        """Store one language-model call (committed); return its id."""
        cursor = self._db.execute(
            "INSERT INTO llm_calls (method, seed, call, backend, prompt, answer, latency_s, "
            "verdict, detail, context, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.method,
                record.seed,
                record.call,
                record.backend,
                record.prompt,
                record.answer,
                record.latency_s,
                record.verdict,
                record.detail,
                json.dumps(dict(record.context), sort_keys=True),
                record.timestamp,
            ),
        )
        assert cursor.lastrowid is not None
        self.commit()
        return int(cursor.lastrowid)

    def add_search_path(self, record: SearchPathRecord) -> int:
        """Store the best state of a search and its path (committed); return its id."""
        cursor = self._db.execute(
            "INSERT INTO search_paths (method, seed, value, design, steps, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.method,
                record.seed,
                record.value,
                design_json(record.design),
                json.dumps([dict(s) for s in record.steps]),
                record.timestamp,
            ),
        )
        assert cursor.lastrowid is not None
        self.commit()
        return int(cursor.lastrowid)

    def commit(self) -> None:
        """End the transaction that ``add(..., commit=False)`` opened (no-op without one)."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------
    def workload(self, key: str) -> dict[str, Any]:
        row = self._db.execute("SELECT description FROM workloads WHERE key=?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return dict(json.loads(row["description"]))

    def workloads(self) -> list[str]:
        return [r["key"] for r in self._db.execute("SELECT key FROM workloads ORDER BY key")]

    @staticmethod
    def _where(
        workload: str | None, method: str | None, target: TargetKind | str | None
    ) -> tuple[str, list[Any]]:
        clauses, params = ["1=1"], []
        for column, value in (("workload", workload), ("method", method), ("target", target)):
            if value is not None:
                clauses.append(f"{column}=?")
                params.append(str(value))
        return " AND ".join(clauses), params

    def count(
        self,
        workload: str | None = None,
        method: str | None = None,
        target: TargetKind | str | None = None,
        *,
        failed_only: bool = False,
    ) -> int:
        """Number of candidates matching the filters (only the invalid ones if
        ``failed_only``)."""
        where, params = self._where(workload, method, target)
        if failed_only:
            where += " AND valid=0"
        return int(
            self._db.execute(f"SELECT COUNT(*) FROM candidates WHERE {where}", params).fetchone()[0]
        )

    def failed_count(
        self,
        workload: str | None = None,
        method: str | None = None,
        target: TargetKind | str | None = None,
    ) -> int:
        return self.count(workload, method, target, failed_only=True)

    def best(
        self,
        workload: str,
        k: int = 1,
        objective: Objective | str = Objective.LATENCY,
        method: str | None = None,
        target: TargetKind | str | None = None,
        verified_only: bool = False,
    ) -> list[CandidateRecord]:
        """The ``k`` valid candidates with the lowest ``objective`` (ties: earliest first)."""
        column = objective_column(objective, target)
        where, params = self._where(workload, method, target)
        if verified_only:
            where += " AND verified=1"
        rows = self._db.execute(
            f"SELECT * FROM candidates WHERE {where} AND valid=1 AND {column} IS NOT NULL "
            f"ORDER BY {column} ASC, id ASC LIMIT ?",
            [*params, k],
        )
        return [_record(r) for r in rows]

    def iterate(
        self,
        workload: str | None = None,
        method: str | None = None,
        target: TargetKind | str | None = None,
    ) -> Iterator[CandidateRecord]:
        """All candidates in insertion order."""
        where, params = self._where(workload, method, target)
        for row in self._db.execute(
            f"SELECT * FROM candidates WHERE {where} ORDER BY id", params
        ).fetchall():
            yield _record(row)

    def llm_calls(self, method: str | None = None) -> list[LlmCallRecord]:
        """Every language-model call (of ``method``, if given) in the order made."""
        where, params = ("method=?", [method]) if method is not None else ("1=1", [])
        rows = self._db.execute(f"SELECT * FROM llm_calls WHERE {where} ORDER BY id", params)
        return [
            LlmCallRecord(
                id=int(r["id"]),
                method=r["method"],
                seed=int(r["seed"]),
                call=int(r["call"]),
                backend=r["backend"],
                prompt=r["prompt"],
                answer=r["answer"],
                latency_s=float(r["latency_s"]),
                verdict=r["verdict"],
                detail=r["detail"],
                context=json.loads(r["context"]),
                timestamp=float(r["timestamp"]),
            )
            for r in rows.fetchall()
        ]

    def search_paths(self, method: str | None = None) -> list[SearchPathRecord]:
        """The stored best paths (of ``method``, if given), in the order stored."""
        where, params = ("method=?", [method]) if method is not None else ("1=1", [])
        rows = self._db.execute(f"SELECT * FROM search_paths WHERE {where} ORDER BY id", params)
        return [
            SearchPathRecord(
                id=int(r["id"]),
                method=r["method"],
                seed=int(r["seed"]),
                value=r["value"],
                design=json.loads(r["design"]),
                steps=tuple(json.loads(r["steps"])),
                timestamp=float(r["timestamp"]),
            )
            for r in rows.fetchall()
        ]


def _record(row: sqlite3.Row) -> CandidateRecord:
    return CandidateRecord(
        id=int(row["id"]),
        target=TargetKind(row["target"]),
        workload=row["workload"],
        method=row["method"],
        trial=int(row["trial"]),
        design=json.loads(row["design"]),
        trace=None if row["trace"] is None else json.loads(row["trace"]),
        valid=bool(row["valid"]),
        verified=bool(row["verified"]),
        error=row["error"],
        latency_s=row["latency_s"],
        build_s=row["build_s"],
        run_s=row["run_s"],
        cycles=row["cycles"],
        energy_pj=row["energy_pj"],
        area_um2=row["area_um2"],
        edp=row["edp"],
        metrics=json.loads(row["metrics"]),
        timestamp=float(row["timestamp"]),
    )
