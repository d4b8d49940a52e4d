"""TIR programs that fail in each way a measured candidate can: they crash the process, compute
the wrong result, never end, or take far longer to build than a schedule should. All have the
signature of the 64x64x64 matmul: (Weights, Inputs, Outputs)."""

from __future__ import annotations

from tvm.script import tirx as T


@T.prim_func
def out_of_bounds(
    W: T.Buffer((64, 64), "float32"),
    X: T.Buffer((64, 64), "float32"),
    Z: T.Buffer((64, 64), "float32"),
) -> None:
    T.func_attr({"global_symbol": "main"})
    for i in range(64):
        Z[0, i * 10000000 + 5000000] = T.float32(1)  # gigabytes past the end: segfault


@T.prim_func
def wrong_result(
    W: T.Buffer((64, 64), "float32"),
    X: T.Buffer((64, 64), "float32"),
    Z: T.Buffer((64, 64), "float32"),
) -> None:
    T.func_attr({"global_symbol": "main"})
    for i, j in T.grid(64, 64):
        Z[i, j] = X[i, j]


@T.prim_func
def never_ends(
    W: T.Buffer((64, 64), "float32"),
    X: T.Buffer((64, 64), "float32"),
    Z: T.Buffer((64, 64), "float32"),
) -> None:
    T.func_attr({"global_symbol": "main"})
    for i, j, _k in T.grid(64, 64, 1000000000):
        Z[i, j] = Z[i, j] * W[i, j] + X[i, j]


@T.prim_func
def slow_build(
    W: T.Buffer((64, 64), "float32"),
    X: T.Buffer((64, 64), "float32"),
    Z: T.Buffer((64, 64), "float32"),
) -> None:
    T.func_attr({"global_symbol": "main"})
    for i in T.unroll(20000):  # 20000 statements for LLVM: about 20 s to build here
        Z[i % 64, i // 64 % 64] = Z[i % 64, i // 64 % 64] * W[i % 64, 0] + X[0, i % 64]
