"""Multicast histograms of many spatial groups at once, for the batched evaluator.

Spatial element ``j`` (an index per problem dimension, ``j_d < S_d``) of a level reads data-space
offset ``sum_d coef * E_d * j_d`` along each data dimension (``E_d``: the extent of the tile below
the fanout). Elements with equal offsets form one multicast group. For a data space whose data
dimensions are single terms, every group has ``prod(S_d, d unused)`` members and there are
``prod(S_d, d used)`` of them. Sliding windows (several terms per data dimension) collide
irregularly: their histograms are computed per distinct canonical key (spatial factors and the
offset coefficients divided by their gcd per data dimension, which does not change which
offsets coincide) and memoized.
"""

from __future__ import annotations

from collections import Counter
from itertools import product as iproduct

import numpy as np

# Per data dimension: ((problem dim, coefficient), ...).
Projection = tuple[tuple[tuple[int, int], ...], ...]


def _histogram(spatial: tuple[int, ...], alphas: tuple[tuple[int, ...], ...]) -> dict[int, int]:
    """{group size: number of groups} for factors ``spatial`` and per-data-dim coefficients."""
    dims = [d for d, s in enumerate(spatial) if s > 1]
    offsets: Counter[tuple[int, ...]] = Counter()
    for idx in iproduct(*(range(spatial[d]) for d in dims)):
        offsets[tuple(sum(a[d] * i for d, i in zip(dims, idx, strict=True)) for a in alphas)] += 1
    return dict(Counter(offsets.values()))


class SlidingHistograms:
    """Memoized multicast histograms of one sliding-window data space."""

    def __init__(self, proj: Projection, num_dims: int) -> None:
        self.proj = proj
        self.num_dims = num_dims
        self.cache: dict[bytes, dict[int, int]] = {}

    def group_counts(self, spatial: np.ndarray, below: np.ndarray, max_fanout: int) -> np.ndarray:
        """[B, max_fanout + 1] number of groups of each size m (column m).

        ``spatial``: [B, D] spatial factors of the level; ``below``: [B, D] tile extents under
        the fanout.
        """
        n = spatial.shape[0]
        cols = [spatial]
        for terms in self.proj:
            alpha = np.zeros((n, self.num_dims), np.int64)
            for d, c in terms:
                alpha[:, d] += c * below[:, d]
            alpha = np.where(spatial > 1, alpha, 0)
            g = np.gcd.reduce(alpha, axis=1)
            cols.append(alpha // np.maximum(g, 1)[:, None])
        key = np.ascontiguousarray(np.concatenate(cols, axis=1))
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        table = np.zeros((len(uniq), max_fanout + 1), np.int64)
        nd = self.num_dims
        for u, row in enumerate(uniq):
            raw = row.tobytes()
            hist = self.cache.get(raw)
            if hist is None:
                s = tuple(int(x) for x in row[:nd])
                alphas = tuple(
                    tuple(int(x) for x in row[nd * (k + 1) : nd * (k + 2)])
                    for k in range(len(self.proj))
                )
                hist = _histogram(s, alphas)
                self.cache[raw] = hist
            for m, groups in hist.items():
                if m <= max_fanout:
                    table[u, m] = groups
        return table[inverse.reshape(-1)]
