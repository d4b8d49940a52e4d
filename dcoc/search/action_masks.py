"""Masks of ``MultiDiscrete`` actions: one 0/1 block per sub-action, concatenated in ``nvec``
order (the layout ``dcoc.agents`` expects in ``action_mask``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Action = Sequence[int] | np.ndarray
"""One integer per sub-action."""


def concat_blocks(mask_parts: Sequence[np.ndarray], nvec: Sequence[int]) -> np.ndarray:
    """One 0/1 mask from per-sub-action parts (each padded with zeros to its ``nvec`` entry)."""
    out = np.zeros(int(sum(nvec)), dtype=np.float32)
    start = 0
    for part, n in zip(mask_parts, nvec, strict=True):
        out[start : start + len(part)] = part
        start += n
    return out


def split_mask(mask: np.ndarray, nvec: Sequence[int]) -> list[np.ndarray]:
    """The per-sub-action blocks of a concatenated mask."""
    out, start = [], 0
    for n in nvec:
        out.append(mask[start : start + n])
        start += n
    return out


def mask_allows(mask: np.ndarray, nvec: Sequence[int], action: Action) -> bool:
    """Whether every sub-action of ``action`` is in range and unmasked."""
    if len(action) != len(nvec):
        return False
    start = 0
    for a, n in zip(action, nvec, strict=True):
        if not 0 <= int(a) < n or mask[start + int(a)] <= 0:
            return False
        start += n
    return True


def sample_masked(mask: np.ndarray, nvec: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """A uniformly random unmasked choice per sub-action."""
    out = np.zeros(len(nvec), dtype=np.int64)
    for i, block in enumerate(split_mask(mask, nvec)):
        out[i] = int(rng.choice(np.flatnonzero(block)))
    return out
