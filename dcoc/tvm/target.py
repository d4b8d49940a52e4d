"""The host CPU as a TVM target, and keeping TVM's GPU tensor intrinsics out of CPU runs.

``mcpu`` is set to the host CPU (LLVM's name for it, e.g. ``znver5``): without it LLVM emits
generic x86-64 code and programs run about half as fast. ``num-cores`` bounds the parallel
extent MetaSchedule's rules aim for.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from typing import Any

import tvm
from tvm.target import codegen

_INTRINSICS = "tvm.s_tir.tensor_intrin"


def host_target_config(num_cores: int | None = None) -> dict[str, Any]:
    """The target as a plain dict (picklable; ``tvm.target.Target(config)`` rebuilds it)."""
    cores = num_cores if num_cores is not None else (os.cpu_count() or 1)
    return {
        "kind": "llvm",
        "mcpu": str(codegen.llvm_get_system_cpu()),
        "num-cores": int(cores),
    }


def host_target(num_cores: int | None = None) -> tvm.target.Target:
    """LLVM target for this machine's CPU with ``num_cores`` cores (default: all)."""
    return tvm.target.Target(host_target_config(num_cores))


def vector_bits(target: tvm.target.Target) -> int:
    """The widest SIMD register of ``target`` in bits (LLVM's answer: 512 with AVX-512)."""
    return int(codegen.llvm_get_vector_width(target))


def defer_tensor_intrinsics() -> None:
    """Stop ``TuneContext`` from importing every GPU/DSP tensor intrinsic.

    ``tvm.s_tir.meta_schedule.TuneContext`` imports ``tvm.s_tir.tensor_intrin``, which parses
    hundreds of CUDA intrinsics written in TVMScript: about a minute of CPU per process. dcoc's
    CPU rules use no tensor intrinsic, so the package is registered as an empty package whose
    submodules (``...tensor_intrin.x86`` etc.) still import normally when asked for.
    No effect if the package has already been imported.
    """
    if _INTRINSICS in sys.modules:
        return
    spec = importlib.util.find_spec(_INTRINSICS)
    if spec is None or spec.submodule_search_locations is None:
        return
    package = types.ModuleType(_INTRINSICS, "Tensor intrinsics, imported on demand by dcoc.")
    package.__path__ = list(spec.submodule_search_locations)
    package.__package__ = _INTRINSICS
    sys.modules[_INTRINSICS] = package
