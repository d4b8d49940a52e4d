"""Helpers shared by the batched evaluator's modules: per-element integers, their products, and
the spans and sizes of tiles whose extents are such integers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from dcoc.accel.model.delta_engine import Projection

# A per-element integer: the same for every element (int) or one per element ([B] array).
Vec = int | np.ndarray


def vprod(values: Iterable[Vec]) -> Vec:
    out: Vec = 1
    for v in values:
        if not (isinstance(v, int) and v == 1):
            out = out * v
    return out


def batch_slots(flat: np.ndarray) -> tuple[list[Vec], np.ndarray]:
    """Per column of ``flat`` [B, N]: a contiguous [B] vector, or 1 if every element has 1.

    Also whether every element's factors are positive (factors below 1 are read as 1)."""
    n = flat.shape[1]
    cols = np.flatnonzero((flat != 1).any(axis=0))
    out: list[Vec] = [1] * n
    positive = np.ones(flat.shape[0], bool)
    if not len(cols):
        return out, positive
    sub = np.ascontiguousarray(flat.T[cols])
    if (sub < 1).any():
        positive = np.asarray((sub >= 1).all(axis=0))
        sub = np.maximum(sub, 1)
    for i, c in enumerate(cols):
        out[int(c)] = sub[i]
    return out, positive


def spans(proj: Projection, extents: Sequence[Vec]) -> list[Vec]:
    """Per data dimension of ``proj``, the span of a tile with ``extents``."""
    out = []
    for terms in proj:
        span: Vec = 1
        for d, c in terms:
            e = extents[d]
            if not (isinstance(e, int) and e == 1):
                span = span + c * (e - 1)
        out.append(span)
    return out


def tile_size(proj: Projection, extents: Sequence[Vec]) -> Vec:
    """The size of the bounding box of a tile with ``extents`` in the data space of ``proj``."""
    out: Vec = 1
    for terms in proj:
        span: Vec = 1
        for d, c in terms:
            e = extents[d]
            if not (isinstance(e, int) and e == 1):
                span = span + c * (e - 1)
        out = out * span if not (isinstance(span, int) and span == 1) else out
    return out
