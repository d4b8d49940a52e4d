"""Small problems for the TVM tests, built directly from :class:`Problem` (no catalog)."""

from __future__ import annotations

from dcoc.workloads.problem import DataSpace, Problem, ProjectionTerm


def _axes(*dims: str) -> tuple[tuple[ProjectionTerm, ...], ...]:
    return tuple((ProjectionTerm(d),) for d in dims)


def matmul_problem(m: int, n: int, k: int) -> Problem:
    return Problem(
        name=f"matmul_{m}x{n}x{k}",
        dimensions=("M", "N", "K"),
        data_spaces=(
            DataSpace("Weights", _axes("K", "N")),
            DataSpace("Inputs", _axes("M", "K")),
            DataSpace("Outputs", _axes("M", "N"), read_write=True),
        ),
        bounds={"M": m, "N": n, "K": k},
    )


def conv_problem(
    c: int, m: int, p: int, q: int, r: int, s: int, stride: int = 1, dilation: int = 1, n: int = 1
) -> Problem:
    return Problem(
        name="conv",
        dimensions=("C", "M", "R", "S", "N", "P", "Q"),
        data_spaces=(
            DataSpace("Weights", _axes("C", "M", "R", "S")),
            DataSpace(
                "Inputs",
                (
                    (ProjectionTerm("N"),),
                    (ProjectionTerm("C"),),
                    (ProjectionTerm("R", "Wdilation"), ProjectionTerm("P", "Wstride")),
                    (ProjectionTerm("S", "Hdilation"), ProjectionTerm("Q", "Hstride")),
                ),
            ),
            DataSpace("Outputs", _axes("N", "M", "Q", "P"), read_write=True),
        ),
        bounds={"C": c, "M": m, "R": r, "S": s, "N": n, "P": p, "Q": q},
        coefficients={
            "Wstride": stride,
            "Hstride": stride,
            "Wdilation": dilation,
            "Hdilation": dilation,
        },
    )


def depthwise_problem(g: int, p: int, q: int, r: int, s: int, stride: int = 1) -> Problem:
    return Problem(
        name="depthwise",
        dimensions=("G", "R", "S", "N", "P", "Q"),
        data_spaces=(
            DataSpace("Weights", _axes("G", "R", "S")),
            DataSpace(
                "Inputs",
                (
                    (ProjectionTerm("N"),),
                    (ProjectionTerm("G"),),
                    (ProjectionTerm("R", "Wdilation"), ProjectionTerm("P", "Wstride")),
                    (ProjectionTerm("S", "Hdilation"), ProjectionTerm("Q", "Hstride")),
                ),
            ),
            DataSpace("Outputs", _axes("N", "G", "Q", "P"), read_write=True),
        ),
        bounds={"G": g, "R": r, "S": s, "N": 1, "P": p, "Q": q},
        coefficients={"Wstride": stride, "Hstride": stride, "Wdilation": 1, "Hdilation": 1},
    )


def batched_matmul_problem(b: int, m: int, n: int, k: int) -> Problem:
    return Problem(
        name="bmm",
        dimensions=("B", "M", "N", "K"),
        data_spaces=(
            DataSpace("Weights", _axes("B", "K", "N")),
            DataSpace("Inputs", _axes("B", "M", "K")),
            DataSpace("Outputs", _axes("B", "M", "N"), read_write=True),
        ),
        bounds={"B": b, "M": m, "N": n, "K": k},
    )
