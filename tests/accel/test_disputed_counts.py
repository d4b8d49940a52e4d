"""Four mappings whose Inputs read count two readings of Timeloop disputed (issue 8).

In each, the levels between the MACs and the named level bypass Inputs, so ``MaskTiles``
scales the named level's accesses. Timeloop does that in doubles and prints
``std::round`` of the result (``src/loop-analysis/tiling.cpp`` ``MaskTiles`` and
``ComputeReadUpdateReductionAccesses_Legacy``; the rule is in the :mod:`dcoc.accel.model.cost`
docstring). Truncating the doubles gave 1 to 3 reads fewer. Every engine must print the
rounded count.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Literal

import pytest
from timeloop_cases import DATA, expected

from dcoc.accel.architecture import Architecture
from dcoc.accel.batched.evaluator import evaluate_batch
from dcoc.accel.batched.inputs import MappingBatch
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostReport
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs

DISPUTED = Path(__file__).resolve().parents[1] / "data" / "disputed"

# mapping -> (level, settled Inputs reads per instance, the truncated count dcoc printed before)
SETTLED = {
    "ex-simple_weight_stationary.1": ("shared_glb", 677376, 677375),
    "ex-simple_weight_stationary.2": ("shared_glb", 2709504, 2709501),
    "ex-simba_like.1": ("PEInputBuffer", 1354752, 1354751),
    "ex-simba_like.2": ("PEInputBuffer", 903168, 903166),
}
Engine = Literal["simulate", "closed_form"]
ENGINES: tuple[Engine, ...] = ("simulate", "closed_form")


@cache
def _inputs(name: str) -> ModelInputs:
    case = name.rsplit(".", 1)[0]
    files = [DATA / case / f for f in expected(case)["inputs"] if not f.endswith(".map.yaml")]
    return load_model_inputs([*files, DISPUTED / f"{name}.map.yaml"])


def _report(
    inputs: ModelInputs, engine: Engine, links: bool, arch: Architecture | None = None
) -> CostReport:
    return evaluate(
        arch or inputs.architecture,
        inputs.problem,
        inputs.mapping,
        tables=inputs.tables,
        legacy_translation=True,
        engine=engine,
        link_transfers=links,
    )


def _inputs_reads(rep: CostReport, level: str) -> int:
    return next(ds.reads for ds in rep.level(level).dataspaces if ds.name == "Inputs")


def test_all_four_mappings_present() -> None:
    assert sorted(p.name.removesuffix(".map.yaml") for p in DISPUTED.glob("*.map.yaml")) == sorted(
        SETTLED
    )


@pytest.mark.parametrize("links", [True, False])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(SETTLED))
def test_settled_inputs_reads(name: str, engine: Engine, links: bool) -> None:
    level, settled, _ = SETTLED[name]
    rep = _report(_inputs(name), engine, links)
    assert rep.valid, rep.reasons
    assert _inputs_reads(rep, level) == settled


@pytest.mark.parametrize("links", [True, False])
@pytest.mark.parametrize("name", sorted(SETTLED))
def test_every_engine_reports_the_same_counts(name: str, links: bool) -> None:
    """Delta engine, closed form, Evaluator and the batched full report: equal counts."""
    inputs = _inputs(name)
    arch, problem, mapping = inputs.architecture, inputs.problem, inputs.mapping
    oracle = _report(inputs, "simulate", links)
    assert _report(inputs, "closed_form", links) == oracle
    ev = Evaluator(arch, problem, inputs.tables, legacy_translation=True, link_transfers=links)
    assert ev.evaluate(mapping) == oracle
    batch = MappingBatch.from_mappings(
        [mapping], len(arch.storage), len(problem.dimensions), len(problem.data_spaces)
    )
    rep = evaluate_batch(
        arch, problem, batch, tables=inputs.tables, legacy_translation=True, link_transfers=links
    )
    for li, lv in enumerate(oracle.levels):
        for s, ds in enumerate(lv.dataspaces):
            got = (int(rep.reads[0, li, s]), int(rep.fills[0, li, s]), int(rep.updates[0, li, s]))
            assert got == (ds.reads, ds.fills, ds.updates), (lv.name, ds.name)
    level, settled, _ = SETTLED[name]
    s = [d.name for d in problem.data_spaces].index("Inputs")
    assert int(rep.reads[0, arch.level_index(level), s]) == settled
    assert float(rep.energy_pj[0]) == oracle.energy_pj
    assert int(rep.cycles[0]) == oracle.cycles


@pytest.mark.parametrize("name", sorted(SETTLED))
def test_summary_sees_the_settled_count(name: str) -> None:
    """``Evaluator.summary`` reports only energy and cycles. With block size 1 and a read
    bandwidth of 1/2 word per cycle at the named level, both depend on its read count, so the
    summaries must equal the report with the settled count."""
    inputs = _inputs(name)
    level, settled, truncated = SETTLED[name]
    base = inputs.architecture
    li = base.level_index(level)
    storage = list(base.storage)
    storage[li] = replace(storage[li], block_size=1, depth=None, read_bandwidth=0.5)
    arch = replace(base, storage=tuple(storage))
    rep = _report(inputs, "simulate", True, arch)
    assert rep.valid, rep.reasons
    assert _inputs_reads(rep, level) == settled
    compute_cycles = rep.computes // rep.utilized_macs
    reads = sum(ds.reads for ds in rep.level(level).dataspaces)
    assert rep.cycles == rep.level(level).cycles > compute_cycles
    assert rep.cycles == math.ceil(compute_cycles / (0.5 * compute_cycles / reads))
    before = reads - settled + truncated
    assert rep.cycles != math.ceil(compute_cycles / (0.5 * compute_cycles / before))
    summary = Evaluator(arch, inputs.problem, inputs.tables, legacy_translation=True).summary(
        inputs.mapping
    )
    assert summary.valid
    assert summary.cycles == rep.cycles
    assert summary.energy_pj == rep.energy_pj
