"""Accelergy-style energy and area estimates for accelerator components without ERT/ART files.

Timeloop takes per-action energies (ERT) and per-instance areas (ART) from Accelergy. Accelergy is
not available here, so when a design point has no ERT/ART (every hardware configuration the
hardware agent invents), :func:`estimate_component` gives one from the component's class and
attributes, and :func:`estimate_tables` fills tables for a whole flattened architecture.

Every figure is anchored on a published number, named where it is defined, and scaled with the
component's size and technology node:

* technology: energy and area relative to 45 nm from Stillmaker & Baas, "Scaling equations for
  the accurate prediction of CMOS device performance from 180 nm to 7 nm", Integration 58
  (2017): the fitted energy polynomials evaluated at each node's nominal supply, and the
  45 nm row of the area scaling table; nodes in between are interpolated log-log.
* arithmetic: Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
  45 nm figures for 8/32-bit integer and 16/32-bit floating-point add and multiply.
* SRAM: Horowitz ISSCC 2014 (8 KB array, 64-bit access: 10 pJ; 32 KB: 20 pJ; 1 MB: 100 pJ),
  i.e. energy per access growing with the square root of the depth, as CACTI's bitline and
  wordline model does; area from the Intel 45 nm 6T cell, 0.346 um^2 (Mistry et al., IEDM 2007).
* DRAM: energy per bit by interface (O'Connor et al., "Fine-grained DRAM", MICRO 2017 for HBM2
  and GDDR5; the LPDDR4 / DDR4 entries of Accelergy's table-based DRAM plug-in).
* register files (flip-flop arrays) and leakage: no single published table fits Accelergy's
  outputs, so their constants are fitted (log least squares) to the Accelergy ERT/ART files of
  the Timeloop exercises (timeloop-accelergy-exercises @ 2ffec69, MIT license), whose 9 register
  file entries span depth 1 to 8192 at 32, 40 and 45 nm. ``tests/accel/test_estimator.py``
  prints the ratio of every estimate to its reference entry.

Eyeriss (Chen et al., ISCA 2016) gives the normalized access energies RF 1 : array 2 : buffer
6 : DRAM 200 (relative to a MAC); the tests check that the estimates keep that order.

All functions are pure: no I/O, no globals that change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from dcoc.errors import SpecError

if TYPE_CHECKING:
    from dcoc.accel.architecture import Architecture

# ---------------------------------------------------------------------------------------------
# Technology scaling (Stillmaker & Baas 2017)
# ---------------------------------------------------------------------------------------------

# node nm -> (a, b, c, nominal Vdd): energy ~ a*Vdd^2 + b*Vdd + c, the paper's fitted polynomial
# per node, evaluated at the node's nominal supply voltage.
_STILLMAKER_ENERGY_POLY: Mapping[int, tuple[float, float, float, float]] = MappingProxyType(
    {
        130: (7.171, -6.709, 2.904, 1.3),
        90: (4.762, -4.781, 2.092, 1.2),
        65: (3.755, -4.398, 1.975, 1.1),
        45: (1.103, -0.362, 0.2767, 1.0),
        32: (0.9559, -0.7823, 0.471, 0.9),
        20: (0.373, -0.1582, 0.04104, 0.9),
        16: (0.2958, -0.1241, 0.03024, 0.8),
        14: (0.2363, -0.09675, 0.02239, 0.8),
        10: (0.2068, -0.09311, 0.02375, 0.75),
        7: (0.1776, -0.09097, 0.02447, 0.7),
    }
)
# node nm -> area relative to 45 nm (the paper's area scaling table, row 45 nm).
_STILLMAKER_AREA_VS_45NM: Mapping[int, float] = MappingProxyType(
    {130: 6.4, 90: 2.8, 65: 1.5, 45: 1.0, 32: 0.46, 20: 0.21, 16: 0.19, 14: 0.17, 10: 0.1, 7: 0.059}
)
MIN_NODE_NM = min(_STILLMAKER_AREA_VS_45NM)
MAX_NODE_NM = max(_STILLMAKER_AREA_VS_45NM)


def _energy_poly(node: int) -> float:
    a, b, c, vdd = _STILLMAKER_ENERGY_POLY[node]
    return a * vdd * vdd + b * vdd + c


def _interpolate_log(table: Mapping[int, float], node_nm: float) -> float:
    nodes = sorted(table)
    if node_nm in table:
        return table[int(node_nm)]
    upper = min(n for n in nodes if n > node_nm)
    lower = max(n for n in nodes if n < node_nm)
    t = math.log(node_nm / lower) / math.log(upper / lower)
    return math.exp((1 - t) * math.log(table[lower]) + t * math.log(table[upper]))


def energy_scale_from_45nm(node_nm: float) -> float:
    """Dynamic energy per operation at ``node_nm`` relative to 45 nm (Stillmaker & Baas 2017)."""
    _check_node(node_nm)
    rel = {n: _energy_poly(n) / _energy_poly(45) for n in _STILLMAKER_ENERGY_POLY}
    return _interpolate_log(rel, node_nm)


def area_scale_from_45nm(node_nm: float) -> float:
    """Area at ``node_nm`` relative to 45 nm (Stillmaker & Baas 2017)."""
    _check_node(node_nm)
    return _interpolate_log(_STILLMAKER_AREA_VS_45NM, node_nm)


def _check_node(node_nm: float) -> None:
    if not MIN_NODE_NM <= node_nm <= MAX_NODE_NM:
        raise SpecError(
            None,
            ("attributes", "technology"),
            f"technology {node_nm:g} nm is outside the scaling table "
            f"({MIN_NODE_NM}-{MAX_NODE_NM} nm); give a node in that range",
        )


def parse_technology_nm(value: object) -> float:
    """``"40nm"``, ``"40 nm"``, ``40`` or ``40e-9`` (metres) -> 40.0."""
    if isinstance(value, bool):
        raise _bad("technology", value, 'a node such as "45nm" or 45')
    if isinstance(value, int | float):
        node = float(value) * 1e9 if value < 1e-3 else float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(nm)?\s*", value)
        if match is None:
            raise _bad("technology", value, 'a node such as "45nm" or 45')
        number = float(match.group(1))
        node = number * 1e9 if match.group(2) is None and number < 1e-3 else number
    else:
        raise _bad("technology", value, 'a node such as "45nm" or 45')
    _check_node(node)
    return node


# ---------------------------------------------------------------------------------------------
# Published anchors (45 nm unless said otherwise)
# ---------------------------------------------------------------------------------------------

# Horowitz ISSCC 2014, 45 nm: (bits, energy pJ, area um^2)
HOROWITZ_INT_ADD = ((8, 0.03, 36.0), (32, 0.1, 137.0))
HOROWITZ_INT_MULT = ((8, 0.2, 282.0), (32, 3.1, 3495.0))
HOROWITZ_FP_ADD = ((16, 0.4, 1360.0), (32, 0.9, 4184.0))
HOROWITZ_FP_MULT = ((16, 1.1, 1640.0), (32, 3.7, 7700.0))
# Horowitz ISSCC 2014: 64-bit read of an 8 KB SRAM costs 10 pJ (32 KB: 20 pJ, 1 MB: 100 pJ).
HOROWITZ_SRAM_8KB_64BIT_PJ = 10.0
# Energy per accessed bit per sqrt(row): 10 pJ / (64 bits * sqrt(1024 rows)).
SRAM_PJ_PER_BIT_SQRT_ROW = HOROWITZ_SRAM_8KB_64BIT_PJ / (64 * math.sqrt(8 * 1024 * 8 / 64))
# Share of an SRAM access spent inside a bank (bitlines, sense amps); the rest is global routing.
# With n banks the in-bank part sees depth/n rows. Assumption (CACTI's H-tree + subarray split).
SRAM_IN_BANK_SHARE = 0.5
# Intel 45 nm 6T SRAM cell (Mistry et al., IEDM 2007) and an assumed array efficiency.
SRAM_CELL_UM2_45NM = 0.346
SRAM_ARRAY_EFFICIENCY = 0.85
SRAM_AREA_PER_EXTRA_BANK = 0.01  # assumption: +1% periphery per extra bank
# Leakage (pJ per 1 ns cycle) = fixed periphery + per bit; fitted to the 45 nm smartbuffer_SRAM
# entries of the exercises' ERTs (3 Kbit, 512 Kbit, 1 Mbit).
SRAM_LEAK_FIXED_PJ = 1.13e-3
SRAM_LEAK_PER_BIT_PJ = 4.0e-9

# Register file (flip-flop array), 45 nm, fitted to the exercises' ERT/ART entries:
#   read energy = width * (RF_PJ_PER_BIT + RF_PJ_PER_BIT_DEPTH * depth ** RF_DEPTH_EXPONENT)
#   area        = width * (RF_UM2_PER_BIT + RF_UM2_PER_BIT_DEPTH * depth ** RF_AREA_EXPONENT)
# RF_PJ_PER_BIT is close to Aladdin's 45 nm register read (0.144 pJ / 16 bits = 0.009 pJ/bit).
RF_PJ_PER_BIT = 0.0143
RF_PJ_PER_BIT_DEPTH = 0.00169
RF_DEPTH_EXPONENT = 0.857
RF_UM2_PER_BIT = 4.81
RF_UM2_PER_BIT_DEPTH = 0.512
RF_AREA_EXPONENT = 1.33
RF_LEAK_FIXED_PJ = 1.0e-4
RF_LEAK_PER_BIT_PJ = 4.0e-7

# Accumulator register of a MAC: Aladdin (Shao et al., ISCA 2014) 45 nm register, as in the
# exercises' aladdin_register ERT/ART entries: 0.144 pJ and 95.68 um^2 for 16 bits.
REGISTER_PJ_PER_BIT = 0.144 / 16
REGISTER_UM2_PER_BIT = 95.68 / 16
# MAC leakage per um^2 per 1 ns cycle: the exercises' 45 nm intmac (0.0036 pJ, 417 um^2).
LOGIC_LEAK_PJ_PER_UM2 = 0.0036 / 417.0

# DRAM energy per bit transferred (not scaled with the accelerator's node; no on-chip area).
DRAM_PJ_PER_BIT: Mapping[str, float] = MappingProxyType(
    {
        "LPDDR4": 8.0,  # Accelergy DRAM table; the exercises' ERTs (64-bit access: 512 pJ)
        "DDR4": 15.0,  # Accelergy DRAM table
        "GDDR5": 14.0,  # O'Connor et al., MICRO 2017
        "HBM2": 3.9,  # O'Connor et al., MICRO 2017
    }
)
DEFAULT_DRAM_TYPE = "LPDDR4"
DUMMY_AREA_UM2 = 1.0  # Timeloop's dummy ART entry for inter_*_spatial levels
DEFAULT_TECHNOLOGY_NM = 45.0
DEFAULT_CYCLE_SECONDS = 1e-9


# ---------------------------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------------------------


class ComponentKind(StrEnum):
    DRAM = "dram"
    SRAM = "sram"
    REGFILE = "regfile"
    DUMMY = "dummy"
    INT_MAC = "intmac"
    FP_MAC = "fpmac"
    INT_MULT = "intmultiplier"
    FP_MULT = "fpmultiplier"
    INT_ADD = "intadder"


COMPUTE_KINDS = frozenset(
    {
        ComponentKind.INT_MAC,
        ComponentKind.FP_MAC,
        ComponentKind.INT_MULT,
        ComponentKind.FP_MULT,
        ComponentKind.INT_ADD,
    }
)


class StorageAction(StrEnum):
    READ = "read"
    WRITE = "write"
    UPDATE = "update"
    FILL = "fill"
    LEAK = "leak"


class ComputeAction(StrEnum):
    MAC_RANDOM = "mac_random"
    COMPUTE = "compute"
    LEAK = "leak"


# Accelergy / Timeloop class names (and ``storage`` subclasses) -> kind.
CLASS_KINDS: Mapping[str, ComponentKind] = MappingProxyType(
    {
        "DRAM": ComponentKind.DRAM,
        "SRAM": ComponentKind.SRAM,
        "smartbuffer_SRAM": ComponentKind.SRAM,
        "regfile": ComponentKind.REGFILE,
        "smartbuffer_RF": ComponentKind.REGFILE,
        "register": ComponentKind.REGFILE,
        "aladdin_register": ComponentKind.REGFILE,
        "dummy_storage": ComponentKind.DUMMY,
        "intmac": ComponentKind.INT_MAC,
        "mac": ComponentKind.INT_MAC,
        "compute": ComponentKind.INT_MAC,
        "fpmac": ComponentKind.FP_MAC,
        "intmultiplier": ComponentKind.INT_MULT,
        "multiplier": ComponentKind.INT_MULT,
        "aladdin_multiplier": ComponentKind.INT_MULT,
        "fpmultiplier": ComponentKind.FP_MULT,
        "intadder": ComponentKind.INT_ADD,
        "adder": ComponentKind.INT_ADD,
        "aladdin_adder": ComponentKind.INT_ADD,
    }
)


@dataclass(frozen=True)
class ComponentEstimate:
    """Energy per action (pJ), leakage (pJ per cycle) and area (um^2) of one instance."""

    action_energy_pj: Mapping[str, float]
    leak_pj_per_cycle: float
    area_um2: float


def component_kind(component_class: str, attributes: Mapping[str, object]) -> ComponentKind:
    """The kind of a class name; ``storage`` is resolved through ``attributes["subclass"]``."""
    name = component_class
    if name == "storage":
        sub = attributes.get("subclass")
        if not isinstance(sub, str):
            raise SpecError(
                None,
                ("subclass",),
                "class 'storage' needs a subclass such as smartbuffer_RF or smartbuffer_SRAM",
            )
        name = sub
    kind = CLASS_KINDS.get(name)
    if kind is None:
        raise SpecError(
            None,
            ("class",),
            f"no energy/area estimate for class {name!r}; use one of "
            f"{', '.join(sorted(CLASS_KINDS))} (or storage with one of them as subclass), "
            "or give ERT/ART files",
        )
    return kind


def estimate_component(component_class: str, attributes: Mapping[str, object]) -> ComponentEstimate:
    """Estimate one instance of a component from its Timeloop class and attributes.

    Storage actions: read, write, update, fill, leak. Compute actions: mac_random, compute,
    leak. ``attributes["technology"]`` is a node such as ``"40nm"`` (default 45 nm);
    ``global_cycle_seconds`` (default 1 ns) converts leakage power into pJ per cycle.
    """
    kind = component_kind(component_class, attributes)
    node = parse_technology_nm(attributes.get("technology", DEFAULT_TECHNOLOGY_NM))
    cycle_scale = _number(attributes, "global_cycle_seconds", DEFAULT_CYCLE_SECONDS) / 1e-9
    e_scale = energy_scale_from_45nm(node)
    a_scale = area_scale_from_45nm(node)
    if kind is ComponentKind.DUMMY:
        return _storage(0.0, 0.0, 0.0, DUMMY_AREA_UM2)
    if kind is ComponentKind.DRAM:
        return _dram(attributes)
    if kind in COMPUTE_KINDS:
        energy, area = _mac(kind, attributes)
        area *= a_scale
        leak = LOGIC_LEAK_PJ_PER_UM2 * area * cycle_scale
        mac_pj = energy * e_scale
        return ComponentEstimate(
            MappingProxyType(
                {
                    ComputeAction.MAC_RANDOM: mac_pj,
                    ComputeAction.COMPUTE: mac_pj,
                    ComputeAction.LEAK: leak,
                }
            ),
            leak,
            area,
        )
    width, depth = _storage_shape(attributes)
    if kind is ComponentKind.SRAM:
        banks = _number(attributes, "n_banks", 1)
        if banks < 1:
            raise _bad("n_banks", banks, "a whole number >= 1")
        rows = (1 - SRAM_IN_BANK_SHARE) * math.sqrt(depth) + SRAM_IN_BANK_SHARE * math.sqrt(
            depth / banks
        )
        read = SRAM_PJ_PER_BIT_SQRT_ROW * width * rows
        bits = width * depth
        area = bits * SRAM_CELL_UM2_45NM / SRAM_ARRAY_EFFICIENCY
        area *= 1 + SRAM_AREA_PER_EXTRA_BANK * (banks - 1)
        leak = SRAM_LEAK_FIXED_PJ + SRAM_LEAK_PER_BIT_PJ * bits
    else:
        read = width * (RF_PJ_PER_BIT + RF_PJ_PER_BIT_DEPTH * depth**RF_DEPTH_EXPONENT)
        area = width * (RF_UM2_PER_BIT + RF_UM2_PER_BIT_DEPTH * depth**RF_AREA_EXPONENT)
        leak = RF_LEAK_FIXED_PJ + RF_LEAK_PER_BIT_PJ * width * depth
    return _storage(read * e_scale, read * e_scale, leak * cycle_scale, area * a_scale)


def estimate_tables(
    arch: Architecture, file: str | None = None
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """ERT and ART for every level of a flattened architecture, shaped like
    :func:`dcoc.accel.tables.parse_ert` / :func:`~dcoc.accel.tables.parse_art` output:
    ``({level: {action: pJ}}, {level: um^2 per instance})``. Dummy levels get area 1.0.
    ``file`` (the architecture's) is named by the :class:`SpecError` of a bad attribute."""
    ert: dict[str, dict[str, float]] = {}
    art: dict[str, float] = {}
    levels: list[tuple[str, str, Mapping[str, object]]] = []
    for level in arch.storage:
        level_attrs: dict[str, object] = dict(level.attributes)
        if level.subclass is not None:
            level_attrs["subclass"] = level.subclass
        levels.append((level.name, level.component_class, level_attrs))
    mac = arch.arithmetic
    levels.append((mac.name, mac.component_class, mac.attributes))
    for name, cls, attrs in levels:
        try:
            est = estimate_component(cls, attrs)
        except SpecError as exc:
            raise SpecError(file, ("architecture", name, *exc.yaml_path), exc.message) from None
        ert[name] = {str(k): float(v) for k, v in est.action_energy_pj.items()}
        art[name] = est.area_um2
    return ert, art


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _bad(key: str, value: object, expected: str) -> SpecError:
    return SpecError(None, ("attributes", key), f"{key} is {value!r}; expected {expected}")


def _number(attributes: Mapping[str, object], key: str, default: float) -> float:
    value = attributes.get(key, default)
    if isinstance(value, bool):
        raise _bad(key, value, "a number")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _bad(key, value, "a number") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(key, value, "a number")
    return float(value)


def _positive(attributes: Mapping[str, object], key: str, default: float) -> float:
    value = _number(attributes, key, default)
    if value <= 0:
        raise _bad(key, value, "a positive number")
    return value


def _storage_shape(attributes: Mapping[str, object]) -> tuple[float, float]:
    """(bits accessed per action of one instance, depth). A cluster of ``cluster_size``
    instances shares one physical row of ``width`` bits, so one instance owns width/cluster."""
    datawidth = _positive(attributes, "datawidth", 16)
    width = _positive(attributes, "width", datawidth)
    cluster = _positive(attributes, "cluster_size", 1)
    depth = _positive(attributes, "depth", 1)
    return max(width / cluster, 1.0), depth


def _storage(read: float, write: float, leak: float, area: float) -> ComponentEstimate:
    actions: dict[str, float] = {
        StorageAction.READ: read,
        StorageAction.WRITE: write,
        StorageAction.UPDATE: write,
        StorageAction.FILL: write,
        StorageAction.LEAK: leak,
    }
    return ComponentEstimate(MappingProxyType(actions), leak, area)


def _dram(attributes: Mapping[str, object]) -> ComponentEstimate:
    dram_type = attributes.get("type", DEFAULT_DRAM_TYPE)
    if not isinstance(dram_type, str) or dram_type.upper() not in DRAM_PJ_PER_BIT:
        raise _bad("type", dram_type, f"one of {', '.join(DRAM_PJ_PER_BIT)}")
    width = _positive(attributes, "width", _positive(attributes, "datawidth", 64))
    per_access = DRAM_PJ_PER_BIT[dram_type.upper()] * width
    return _storage(per_access, per_access, 0.0, 0.0)


def _power_law(points: tuple[tuple[int, float, float], ...], bits: float) -> tuple[float, float]:
    """Energy and area at ``bits``, log-log through two published (bits, pJ, um^2) points."""
    (b0, e0, a0), (b1, e1, a1) = points
    t = math.log(bits / b0) / math.log(b1 / b0)
    return e0 * (e1 / e0) ** t, a0 * (a1 / a0) ** t


def _mac(kind: ComponentKind, attributes: Mapping[str, object]) -> tuple[float, float]:
    """45 nm energy (pJ) and area (um^2): a MAC is multiply + add + accumulator register;
    a multiplier or an adder alone is the Horowitz figure for its width."""
    default_bits = _positive(attributes, "width", _positive(attributes, "datawidth", 8))
    if kind is ComponentKind.INT_MULT:
        return _power_law(
            HOROWITZ_INT_MULT, _positive(attributes, "multiplier_width", default_bits)
        )
    if kind is ComponentKind.FP_MULT:
        bits = _positive(attributes, "width", _positive(attributes, "datawidth", 32))
        return _power_law(HOROWITZ_FP_MULT, _positive(attributes, "multiplier_width", bits))
    if kind is ComponentKind.INT_ADD:
        return _power_law(HOROWITZ_INT_ADD, _positive(attributes, "adder_width", default_bits))
    if kind is ComponentKind.FP_MAC:
        default_bits = _positive(attributes, "width", _positive(attributes, "datawidth", 32))
        mult_bits = _positive(attributes, "multiplier_width", default_bits)
        add_bits = _positive(attributes, "adder_width", mult_bits)
        mult = _power_law(HOROWITZ_FP_MULT, mult_bits)
        add = _power_law(HOROWITZ_FP_ADD, add_bits)
    else:
        mult_bits = _positive(attributes, "multiplier_width", default_bits)
        add_bits = _positive(attributes, "adder_width", 2 * mult_bits)
        mult = _power_law(HOROWITZ_INT_MULT, mult_bits)
        add = _power_law(HOROWITZ_INT_ADD, add_bits)
    energy = mult[0] + add[0] + REGISTER_PJ_PER_BIT * add_bits
    area = mult[1] + add[1] + REGISTER_UM2_PER_BIT * add_bits
    return energy, area
