"""Fixtures of the TVM tests: small problems and one shared measurement worker."""

from __future__ import annotations

import os

import pytest
from tvm_problems import conv_problem, matmul_problem

from dcoc.workloads.problem import Problem

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def small_matmul() -> Problem:
    return matmul_problem(64, 64, 64)


@pytest.fixture
def tiny_conv() -> Problem:
    return conv_problem(c=8, m=16, p=6, q=6, r=3, s=3, stride=2)


@pytest.fixture(scope="session")
def target_config() -> dict[str, object]:
    from dcoc.tvm.target import host_target_config

    return host_target_config(1)


@pytest.fixture(scope="session")
def measurer(target_config: dict[str, object]):  # type: ignore[no-untyped-def]
    """One measurement worker for the whole session (it imports TVM once)."""
    from dcoc.tvm.measure import Measurer, MeasureSettings

    settings = MeasureSettings(repeat=3, min_repeat_ms=5, run_timeout_s=8.0)
    with Measurer(target_config, settings, workers=1) as m:
        yield m
