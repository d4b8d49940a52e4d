"""What a benchmark runs: suites, budgets, seeds and methods, parsed and checked up front.

A *suite* is one thing every method is compared on:

* an accelerator co-design suite: a layer set (anything
  :func:`~dcoc.workloads.catalog.resolve_layers` accepts: ``resnet18.vta``, ``vgg16``,
  ``mobilenetv2``, ``bert_base``, a layer-set YAML file, or layer names ``resnet18/C5,resnet18/C8``)
  on a hardware design space, written ``LAYERS[@DESIGN_SPACE]``; the objective is the network's
  EDP, latency or energy, the budget counts layer-mapping evaluations;
* a CPU suite, ``cpu:WORKLOAD`` (``cpu:matmul:512,512,512``, ``cpu:resnet18/C5``): real TVM
  schedules of one layer measured on this machine, objective latency in seconds, the budget
  counts measured trials.

Grammar of one ``--suite`` value: items separated by commas. Consecutive layer names
(``NETWORK/LAYER`` or inline shapes) form one layer set, so ``resnet18/C5,resnet18/C8`` is one
two-layer suite (give single layers as separate suites with repeated ``--suite``); a network, a
subset or a YAML file is a suite of its own; ``@DESIGN_SPACE`` after an item ends its suite and
sets its design space. After ``cpu:`` every following layer name is a CPU suite of its own:
``cpu:matmul:512,512,512,resnet18/C5`` is two CPU suites.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dcoc.file_names import file_name_component
from dcoc.search.methods import ACCEL_METHODS, RL_METHODS
from dcoc.search.network_search import (
    DEFAULT_DESIGN_SPACE,
    OBJECTIVES,
    CoDesignProblem,
    build_problem,
    resolve_design_space,
)
from dcoc.workloads.catalog import list_networks, resolve_workload

SuiteKind = Literal["accel", "cpu"]
CPU_PREFIX = "cpu:"
CPU_METHODS = ("random", "metaschedule", "mcts", "mcts-random", "mcts-llm")
"""The CPU search methods (:class:`dcoc.search.cpu_search.CpuMethod`, named here so that checking
a command line does not import TVM)."""
CPU_BASELINES = ("random", "metaschedule")
"""The CPU methods dcoc's tree search is compared with (the table's *best baseline*)."""
SUITE_FORMS = (
    "NETWORK (networks: {networks}), NETWORK.SUBSET (resnet18.vta), LAYERS.yaml, "
    "NETWORK/LAYER[,NETWORK/LAYER...], each optionally @DESIGN_SPACE; cpu:WORKLOAD"
)


class BenchInputError(ValueError):
    """A bad command line: one line naming what is wrong and what is known."""


@dataclass(frozen=True)
class Suite:
    name: str
    """As the table shows it: the workload, ``@`` the design space's short name unless it is
    the default (``mobilenetv2@simba_like``), or ``cpu:WORKLOAD``."""
    kind: SuiteKind
    workload: str
    """The layer set (accel) or the one layer (cpu)."""
    design_space: str | None = None
    """The design-space file as given (accel only)."""

    @property
    def key(self) -> str:
        """The suite's directory and file name (path-safe)."""
        return file_name_component(self.name, keep="A-Za-z0-9.,@+=-", fallback="suite")

    @property
    def objective_unit(self) -> str:
        return "s" if self.kind == "cpu" else ""

    def to_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "kind": self.kind,
            "workload": self.workload,
            "design_space": self.design_space,
        }


def design_space_label(path: str) -> str:
    """``accel_specs/simba_like.space.yaml`` -> ``simba_like``."""
    name = Path(path).name
    for suffix in (".yaml", ".yml", ".space"):
        name = name.removesuffix(suffix)
    return name


def _is_layer(item: str) -> bool:
    """A layer name (``NETWORK/LAYER``) or an inline shape, as opposed to a network, a subset
    or a layer-set file."""
    if item.endswith((".yaml", ".yml")):
        return False
    return "/" in item or ":" in item


def _items(text: str) -> list[str]:
    """Comma-separated items; a purely numeric part continues the item before it (the
    numbers of an inline shape ``matmul:512,512,512``)."""
    items: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if items and re.fullmatch(r"\d+(@.*)?", part) and ":" in items[-1]:
            items[-1] += "," + part
        else:
            items.append(part)
    return items


def _accel_suite(workload: str, design_space: str | None, default_space: str) -> Suite:
    space = design_space or default_space
    label = Path(workload).stem if workload.endswith((".yaml", ".yml")) else workload
    if resolve_design_space(space) != resolve_design_space(DEFAULT_DESIGN_SPACE):
        label = f"{label}@{design_space_label(space)}"
    return Suite(label, "accel", workload, space)


def _close(group: list[str], design_space: str | None, default_space: str) -> list[Suite]:
    """The layer set of the layer names collected in ``group`` (emptied), if any."""
    if not group:
        return []
    suite = _accel_suite(",".join(group), design_space, default_space)
    group.clear()
    return [suite]


def parse_suites(values: Iterable[str], default_design_space: str) -> list[Suite]:
    """The suites of the ``--suite`` values (grammar in the module docstring), in order."""
    suites: list[Suite] = []
    for text in values:
        group: list[str] = []  # consecutive layer names: one layer set
        cpu = False
        for raw in _items(text):
            item, at, space = raw.partition("@")
            if at and not space:
                raise BenchInputError(f"suite {raw!r}: give the design-space file after '@'")
            if item.startswith(CPU_PREFIX):
                suites += _close(group, None, default_design_space)
                cpu = True
                item = item.removeprefix(CPU_PREFIX)
            if cpu and _is_layer(item):
                if at:
                    raise BenchInputError(f"CPU suite {raw!r} takes no design space")
                suites.append(Suite(f"{CPU_PREFIX}{item}", "cpu", item))
                continue
            cpu = False
            if _is_layer(item):
                group.append(item)
                if at:
                    suites += _close(group, space, default_design_space)
            else:
                suites += _close(group, None, default_design_space)
                suites.append(_accel_suite(item, space or None, default_design_space))
        suites += _close(group, None, default_design_space)
    if not suites:
        raise BenchInputError(f"no suite given; suites: {known_suites()}")
    keys: dict[str, Suite] = {}
    for suite in suites:
        other = keys.setdefault(suite.key, suite)
        if other is not suite:
            raise BenchInputError(
                f"suites {other.workload!r} and {suite.workload!r} would share the directory "
                f"{suite.key!r}; rename one of the files"
            )
    return suites


def known_suites() -> str:
    return SUITE_FORMS.format(networks=", ".join(list_networks()))


def check_suites(
    suites: Sequence[Suite], area_budget_um2: float | None
) -> dict[str, CoDesignProblem]:
    """Resolve every suite before anything runs: the co-design problem of each accelerator
    suite by key (:class:`~dcoc.errors.SpecError` for an unknown layer set or design space,
    or a layer no configuration can map), the layer of each CPU suite."""
    problems: dict[str, CoDesignProblem] = {}
    for suite in suites:
        if suite.kind == "cpu":
            resolve_workload(suite.workload)
            continue
        assert suite.design_space is not None
        problems[suite.key] = build_problem(suite.workload, suite.design_space, area_budget_um2)
    return problems


def parse_methods(text: str, suites: Sequence[Suite]) -> tuple[str, ...]:
    """The comma-separated method names; each must apply to every kind of suite given."""
    methods = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    if not methods:
        raise BenchInputError(f"no method given; known: {', '.join(ACCEL_METHODS)}")
    kinds = {s.kind for s in suites}
    for kind in ("accel", "cpu"):
        if kind not in kinds:
            continue
        known = ACCEL_METHODS if kind == "accel" else CPU_METHODS
        unknown = [m for m in methods if m not in known]
        if unknown:
            raise BenchInputError(
                f"unknown method{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for "
                f"{kind} suites; known: {', '.join(known)}"
            )
    return methods


def is_rl(method: str) -> bool:
    return method in RL_METHODS


def is_baseline(method: str, kind: SuiteKind) -> bool:
    """A method the table's *best baseline* is chosen from: every accelerator method but the
    RL agents; on the CPU, random search and MetaSchedule (not dcoc's tree search)."""
    return method in CPU_BASELINES if kind == "cpu" else not is_rl(method)


def _int(text: str, what: str, minimum: int) -> int:
    if not re.fullmatch(r"\d+", text.strip()):
        raise BenchInputError(f"{what}: expected an integer, got {text!r}")
    value = int(text)
    if value < minimum:
        raise BenchInputError(f"{what}: expected at least {minimum}, got {value}")
    return value


def parse_seeds(text: str) -> tuple[int, ...]:
    """``0-4``, ``0,1,2`` or both (``0-2,7``), in order, without repeats."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.startswith("-"):
            raise BenchInputError(f"--seeds: seeds are integers >= 0, got {part!r}")
        first, dash, last = part.partition("-")
        if dash:
            lo, hi = _int(first, "--seeds", 0), _int(last, "--seeds", 0)
            if hi < lo:
                raise BenchInputError(f"--seeds: empty range {part!r}")
            seeds.extend(range(lo, hi + 1))
        else:
            seeds.append(_int(part, "--seeds", 0))
    if not seeds:
        raise BenchInputError("--seeds: give seeds as 0-4 or 0,1,2")
    return tuple(dict.fromkeys(seeds))


def parse_budgets(text: str) -> tuple[int, ...]:
    """One budget or a comma list, each at least 1, in order."""
    budgets = [_int(p, "--budget", 1) for p in text.split(",") if p.strip()]
    if not budgets:
        raise BenchInputError("--budget: give a number of evaluations (or a comma list)")
    return tuple(dict.fromkeys(budgets))


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise BenchInputError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    return objective
