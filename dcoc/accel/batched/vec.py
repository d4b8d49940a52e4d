"""Helpers shared by the batched evaluator's modules: per-element integers and their products."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

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
