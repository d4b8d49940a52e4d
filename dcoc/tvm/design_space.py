"""MetaSchedule sketches as discrete decision slots, and applying a choice of decisions.

A *sketch* is a MetaSchedule trace produced by ``PostOrderApply`` with explicit CPU rules
(multi-level tiling ``SSRSRS``, parallel-vectorize-unroll, auto-inline, random compute
location, rfactor). Its sampling instructions are the knobs of the schedule:

* ``SamplePerfectTile``: split a loop of extent ``E`` into ``n`` factors whose product is
  ``E``, the innermost at most ``max_innermost_factor``. Legal values: every such ordered
  factorization.
* ``SampleCategorical``: pick one of a few candidates (the unroll depth). Legal values: the
  candidate indices.

Each becomes a :class:`DecisionSlot` with its legal values enumerated. A :class:`DesignPoint`
chooses one value per slot of one sketch; :func:`apply_decisions` checks every value *before*
TVM sees it (TVM silently re-samples an illegal decision), replays the trace and runs the CPU
postprocessors. ``SampleComputeLocation`` decisions (only present when a layer has producer
blocks, which an Einsum layer has not) keep the sketch's value and are not exposed as slots.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from math import prod
from typing import Any

import numpy as np
import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.schedule import Instruction, Schedule, Trace

from dcoc.tvm.compute import EinsumSpec, einsum_module
from dcoc.tvm.target import defer_tensor_intrinsics

logger = logging.getLogger(__name__)

Decision = int | tuple[int, ...]

MAX_INNERMOST_FACTOR = 64
UNROLL_MAX_STEPS = (0, 16, 64, 512)


class SlotKind(StrEnum):
    PERFECT_TILE = "perfect_tile"
    CATEGORICAL = "categorical"


class IllegalDecisionError(ValueError):
    """A decision that is not among a slot's legal values (or a wrong number of decisions)."""


class PostprocRejectedError(RuntimeError):
    """A MetaSchedule postprocessor refused the schedule produced by a set of decisions."""


def cpu_schedule_rules() -> list[ms.ScheduleRule]:
    """The CPU schedule rules, spelled out (TVM's ``llvm`` defaults, without custom rules)."""
    sr = ms.schedule_rule
    return [
        sr.InlineConstantScalars(),
        sr.AutoInline(
            into_producer=False,
            into_consumer=True,
            inline_const_tensor=True,
            disallow_if_then_else=True,
            require_injective=True,
            require_ordered=True,
            disallow_op=["tirx.exp"],
        ),
        sr.AddRFactor(max_jobs_per_core=16, max_innermost_factor=MAX_INNERMOST_FACTOR),
        sr.MultiLevelTiling(
            structure="SSRSRS",
            tile_binds=None,
            max_innermost_factor=MAX_INNERMOST_FACTOR,
            vector_load_lens=None,
            reuse_read=None,
            reuse_write=sr.ReuseType(req="may", levels=[1, 2], scope="global"),
        ),
        sr.ParallelizeVectorizeUnroll(
            max_jobs_per_core=16,
            max_vectorize_extent=64,
            unroll_max_steps=list(UNROLL_MAX_STEPS),
            unroll_explicit=True,
        ),
        sr.RandomComputeLocation(),
    ]


def cpu_postprocs() -> list[ms.postproc.Postproc]:
    """CPU postprocessors. ``RewriteLayout`` is left out: it would change the weights' layout
    and the program would no longer compute the layer on the original tensors."""
    pp = ms.postproc
    return [
        pp.DisallowDynamicLoop(),
        pp.RewriteParallelVectorizeUnroll(),
        pp.RewriteReductionBlock(),
    ]


def cpu_space_generator() -> ms.space_generator.PostOrderApply:
    """The space generator used by dcoc's sketches and by the MetaSchedule baseline."""
    return ms.space_generator.PostOrderApply(
        sch_rules=cpu_schedule_rules(),
        postprocs=cpu_postprocs(),
        mutator_probs="llvm",
    )


@cache
def perfect_tilings(extent: int, n: int, max_innermost: int) -> tuple[tuple[int, ...], ...]:
    """Every ordered ``n``-tuple of positive integers whose product is ``extent`` and whose
    last element is at most ``max_innermost`` (no limit if ``max_innermost <= 0``)."""
    divisors = [d for d in range(1, extent + 1) if extent % d == 0]
    out: list[tuple[int, ...]] = []

    def rec(rest: int, parts: int, prefix: tuple[int, ...]) -> None:
        if parts == 1:
            if max_innermost <= 0 or rest <= max_innermost:
                out.append((*prefix, rest))
            return
        for d in divisors:
            if d > rest:
                break
            if rest % d == 0:
                rec(rest // d, parts - 1, (*prefix, d))

    rec(extent, n, ())
    return tuple(out)


@dataclass(frozen=True)
class DecisionSlot:
    """One sampling instruction of a sketch, as a discrete choice."""

    name: str
    kind: SlotKind
    choices: tuple[Decision, ...]
    sketch_value: Decision
    instruction_index: int  # position of the instruction in the sketch's trace
    extent: int | None = None  # loop extent (perfect tiles)
    candidates: tuple[int, ...] | None = None  # candidate values (categorical)

    def index_of(self, value: Decision) -> int:
        return self.choices.index(value)

    def describe_choices(self, limit: int = 12) -> str:
        shown = [list(c) if isinstance(c, tuple) else c for c in self.choices[:limit]]
        more = f" ... ({len(self.choices)} in all)" if len(self.choices) > limit else ""
        return f"{shown}{more}"


@dataclass(frozen=True, eq=False)
class Sketch:
    """A sketch: the unscheduled module, its trace, its slots and the postprocessors."""

    index: int
    mod: tvm.IRModule
    trace: Trace
    slots: tuple[DecisionSlot, ...]
    postprocs: tuple[ms.postproc.Postproc, ...]

    @property
    def size(self) -> int:
        """Number of distinct decision vectors of this sketch."""
        return prod(len(s.choices) for s in self.slots)

    @property
    def default_decisions(self) -> tuple[Decision, ...]:
        return tuple(s.sketch_value for s in self.slots)


@dataclass(frozen=True)
class DesignPoint:
    """One schedule of a design space: a sketch and one decision per slot of it."""

    sketch: int
    decisions: tuple[Decision, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "sketch": self.sketch,
            "decisions": [list(d) if isinstance(d, tuple) else d for d in self.decisions],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> DesignPoint:
        decisions = tuple(tuple(d) if isinstance(d, list) else int(d) for d in data["decisions"])
        return DesignPoint(int(data["sketch"]), decisions)


def _as_python(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (int, float, str, bool)):
        return value
    if hasattr(value, "value"):  # IntImm / FloatImm
        return value.value
    return [_as_python(v) for v in value]


def _slot_name(trace: Trace, position: int, loop_name: str | None, used: set[str]) -> str:
    inst = trace.insts[position]
    if inst.kind.name == "SamplePerfectTile":
        base = f"tile:{loop_name or position}"
    else:
        base = f"categorical:{position}"
        out = inst.outputs[0]
        for later in trace.insts[position + 1 :]:
            if later.kind.name == "Annotate" and any(x.same_as(out) for x in later.inputs):
                base = str(later.attrs[0]).removeprefix("meta_schedule.")
                break
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}#{k}"
    used.add(name)
    return name


def _analyze_sketch(
    index: int, mod: tvm.IRModule, sketch: Schedule, postprocs: tuple[ms.postproc.Postproc, ...]
) -> Sketch:
    trace = sketch.trace
    loops: dict[int, tuple[str, int]] = {}  # instruction position -> (loop name, extent)
    _replay_with_positions(trace, Schedule(mod, debug_mask="none"), loops)

    slots: list[DecisionSlot] = []
    used: set[str] = set()
    for p, inst in enumerate(trace.insts):
        kind = inst.kind.name
        if kind not in ("SamplePerfectTile", "SampleCategorical"):
            continue
        decision = _as_python(trace.decisions[inst])
        if kind == "SamplePerfectTile":
            n, max_inner = int(inst.attrs[0]), int(inst.attrs[1])
            loop_name, extent = loops[p]
            choices: tuple[Decision, ...] = perfect_tilings(extent, n, max_inner)
            value: Decision = tuple(int(v) for v in decision)
            slots.append(
                DecisionSlot(
                    _slot_name(trace, p, loop_name, used),
                    SlotKind.PERFECT_TILE,
                    choices,
                    value,
                    p,
                    extent=extent,
                )
            )
        else:
            candidates = tuple(int(c) for c in _as_python(inst.attrs[0]))
            slots.append(
                DecisionSlot(
                    _slot_name(trace, p, None, used),
                    SlotKind.CATEGORICAL,
                    tuple(range(len(candidates))),
                    int(decision),
                    p,
                    candidates=candidates,
                )
            )
    return Sketch(index, mod, trace, tuple(slots), postprocs)


def _replay_with_positions(trace: Trace, sch: Schedule, loops: dict[int, tuple[str, int]]) -> None:
    """Replay ``trace`` on ``sch``; record (loop name, extent) of each perfect-tile sample."""
    positions = {}
    for p, inst in enumerate(trace.insts):
        positions[inst] = p

    def provider(inst: Instruction, inputs: list[Any], attrs: list[Any], decision: Any) -> Any:
        if inst.kind.name == "SamplePerfectTile":
            loop = sch.get(inputs[0])
            loops[positions[inst]] = (str(loop.loop_var.name), int(loop.extent))
        return decision

    trace.apply_to_schedule(sch, remove_postproc=True, decision_provider=provider)


@dataclass(frozen=True, eq=False)
class DesignSpace:
    """All sketches of one layer on one target."""

    spec: EinsumSpec
    mod: tvm.IRModule
    target: tvm.target.Target
    sketches: tuple[Sketch, ...]

    @property
    def size(self) -> int:
        return sum(s.size for s in self.sketches)

    def random_point(self, rng: np.random.Generator) -> DesignPoint:
        """A sketch chosen uniformly, then one legal value per slot chosen uniformly."""
        sketch = self.sketches[int(rng.integers(len(self.sketches)))]
        decisions = tuple(s.choices[int(rng.integers(len(s.choices)))] for s in sketch.slots)
        return DesignPoint(sketch.index, decisions)

    def apply(self, point: DesignPoint) -> Schedule:
        if not 0 <= point.sketch < len(self.sketches):
            raise IllegalDecisionError(
                f"sketch {point.sketch} does not exist; legal sketches: 0..{len(self.sketches) - 1}"
            )
        return apply_decisions(self.sketches[point.sketch], point.decisions)


def generate_design_space(
    spec: EinsumSpec, target: tvm.target.Target, seed: int = 1
) -> DesignSpace:
    """Generate the CPU sketches of ``spec`` for ``target`` and enumerate their slots."""
    mod = einsum_module(spec)
    defer_tensor_intrinsics()
    context = ms.TuneContext(
        mod=mod,
        target=target,
        space_generator=cpu_space_generator(),
        task_name="main",
        rand_state=seed,
        num_threads=1,
    )
    schedules = context.generate_design_space()
    postprocs = tuple(context.space_generator.postprocs)
    sketches = tuple(_analyze_sketch(i, mod, s, postprocs) for i, s in enumerate(schedules))
    logger.debug(
        "%s: %d sketches, %d points", spec.name, len(sketches), sum(s.size for s in sketches)
    )
    return DesignSpace(spec, mod, target, sketches)


def _normalize(slot: DecisionSlot, value: Any) -> Decision:
    if slot.kind is SlotKind.PERFECT_TILE:
        if isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, np.integer)) for v in value
        ):
            return tuple(int(v) for v in value)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise IllegalDecisionError(
        f"slot {slot.name!r}: decision {value!r} has the wrong type; legal values: "
        f"{slot.describe_choices()}"
    )


def check_decisions(
    sketch: Sketch, decisions: Sequence[Any] | Mapping[str, Any]
) -> tuple[Decision, ...]:
    """Return ``decisions`` as one legal value per slot, in slot order, or raise
    :class:`IllegalDecisionError` naming the slot and its legal values.

    ``decisions`` is a sequence in slot order or a mapping from slot name to value (slots
    not named keep the sketch's value)."""
    if isinstance(decisions, Mapping):
        names = {s.name for s in sketch.slots}
        unknown = sorted(set(decisions) - names)
        if unknown:
            raise IllegalDecisionError(
                f"unknown slot(s) {unknown}; slots of sketch {sketch.index}: "
                f"{[s.name for s in sketch.slots]}"
            )
        values = [decisions.get(s.name, s.sketch_value) for s in sketch.slots]
    else:
        values = list(decisions)
        if len(values) != len(sketch.slots):
            raise IllegalDecisionError(
                f"sketch {sketch.index} has {len(sketch.slots)} slots "
                f"{[s.name for s in sketch.slots]}, got {len(values)} decisions"
            )
    out: list[Decision] = []
    for slot, raw in zip(sketch.slots, values, strict=True):
        value = _normalize(slot, raw)
        if value not in slot.choices:
            raise IllegalDecisionError(
                f"slot {slot.name!r}: decision {raw!r} is not legal; legal values: "
                f"{slot.describe_choices()}"
            )
        out.append(value)
    return tuple(out)


def apply_decisions(sketch: Sketch, decisions: Sequence[Any] | Mapping[str, Any]) -> Schedule:
    """Replay ``sketch`` with ``decisions`` and run the postprocessors.

    Raises :class:`IllegalDecisionError` before anything reaches TVM if a decision is not
    legal, and :class:`PostprocRejectedError` if a postprocessor rejects the schedule.
    """
    values = check_decisions(sketch, decisions)
    trace = sketch.trace
    new_decisions = dict(trace.decisions.items())
    for slot, value in zip(sketch.slots, values, strict=True):
        inst = trace.insts[slot.instruction_index]
        new_decisions[inst] = list(value) if isinstance(value, tuple) else value
    sch = Schedule(sketch.mod, debug_mask="none", error_render_level="detail")
    Trace(list(trace.insts), new_decisions).apply_to_schedule(sch, remove_postproc=True)
    applied = sch.trace
    for slot, value in zip(sketch.slots, values, strict=True):
        got = _as_python(applied.decisions[applied.insts[slot.instruction_index]])
        got = tuple(got) if isinstance(got, list) else got
        if got != value:  # TVM re-sampled: our legality check missed a constraint
            raise IllegalDecisionError(
                f"slot {slot.name!r}: TVM replaced decision {value!r} by {got!r}"
            )
    sch.enter_postproc()
    for postproc in sketch.postprocs:
        if not postproc.apply(sch):
            raise PostprocRejectedError(
                f"postprocessor {postproc} rejected sketch {sketch.index} with decisions "
                f"{list(values)}"
            )
    return sch
