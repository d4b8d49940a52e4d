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

from dcoc.accel.batched.vec import Vec

# Per data dimension: ((problem dim, coefficient), ...).
Projection = tuple[tuple[tuple[int, int], ...], ...]


def _histogram(spatial: tuple[int, ...], alphas: tuple[tuple[int, ...], ...]) -> dict[int, int]:
    """{group size: number of groups} for factors ``spatial`` and per-data-dim coefficients."""
    dims = [d for d, s in enumerate(spatial) if s > 1]
    offsets: Counter[tuple[int, ...]] = Counter()
    for idx in iproduct(*(range(spatial[d]) for d in dims)):
        offsets[tuple(sum(a[d] * i for d, i in zip(dims, idx, strict=True)) for a in alphas)] += 1
    return dict(Counter(offsets.values()))


def _pair_histogram(key: tuple[int, ...]) -> dict[int, int]:
    """Histogram of ``prod over pairs (A, B, alpha, beta)`` of ``alpha*a + beta*b``."""
    offsets: Counter[tuple[int, ...]] = Counter()
    pairs = [key[i : i + 4] for i in range(0, len(key), 4)]
    for idx in iproduct(*(iproduct(range(max(p[0], 1)), range(max(p[1], 1))) for p in pairs)):
        offsets[tuple(p[2] * a + p[3] * b for p, (a, b) in zip(pairs, idx, strict=True))] += 1
    return dict(Counter(offsets.values()))


class SlidingHistograms:
    """Memoized multicast histograms of one sliding-window data space.

    Fast path (convolutions): every data dimension has one or two terms and no problem
    dimension appears twice. Then unused dimensions multiply every group's size, single-term
    dimensions multiply the number of groups, and a two-term dimension ``alpha*a + beta*b``
    (``a < A``, ``b < B``) only collides when, with ``alpha, beta`` divided by their gcd,
    ``beta < A`` and ``alpha < B``; the colliding pairs ``(A, B, alpha, beta)`` form a small
    integer key whose histogram is memoized.
    """

    def __init__(self, proj: Projection, num_dims: int) -> None:
        self.proj = proj
        self.num_dims = num_dims
        self.cache: dict[bytes, dict[int, int]] = {}
        dims = [d for terms in proj for d, _ in terms]
        self.fast = len(dims) == len(set(dims)) and all(len(t) <= 2 for t in proj)
        self.pairs = [tuple(x for term in t for x in term) for t in proj if len(t) == 2]
        self.single = [t[0][0] for t in proj if len(t) == 1 and t[0][1] != 0]
        used = {d for t in proj for d, c in t if c != 0}
        self.unused = [d for d in range(num_dims) if d not in used]
        self.known: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def entries(
        self, spatial: list[Vec], below: list[Vec], max_fanout: int, base: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Multicast entries (m [K, B] or [K, 1], accesses [K, B]) of accesses ``base`` [B].

        ``spatial``/``below``: per problem dim the level's spatial factor and the tile extent
        under the fanout, each an int (same for every element) or a [B] array.
        """
        n = base.shape[0]
        f = max_fanout
        if not self.fast:
            table = self.group_counts(
                np.stack([np.broadcast_to(x, (n,)) for x in spatial], axis=1),
                np.stack([np.broadcast_to(x, (n,)) for x in below], axis=1),
                f,
            )
            return np.arange(f + 1)[:, None], base[None, :] * table.T
        members: Vec = 1
        for d in self.unused:
            members = members * spatial[d]
        groups: Vec = base
        for d in self.single:
            groups = groups * spatial[d]
        key: Vec = 0
        for da, ca, db, cb in self.pairs:
            a_n, b_n = spatial[da], spatial[db]
            if isinstance(a_n, int) and isinstance(b_n, int) and (a_n == 1 or b_n == 1):
                groups = groups * (a_n * b_n)
                key = key * (f + 1) ** 4
                continue
            alpha = np.asarray(ca * below[da], np.int64)
            beta = np.asarray(cb * below[db], np.int64)
            g = np.maximum(np.gcd(alpha, beta), 1)
            alpha = alpha // g
            beta = beta // g
            collide = (a_n > 1) & (b_n > 1) & (beta < a_n) & (alpha < b_n)
            groups = groups * np.where(collide, 1, a_n * b_n)
            for part in (a_n, b_n, alpha, beta):
                key = key * (f + 1) + np.where(collide, np.minimum(part, f), 0)
        key_arr = np.broadcast_to(np.asarray(key, np.int64), (n,))
        known = self.known.get(f)
        idx = None
        if known is not None:
            idx = np.minimum(np.searchsorted(known[0], key_arr), len(known[0]) - 1)
            if not (known[0][idx] == key_arr).all():
                idx = None
        if known is None or idx is None:
            new = np.unique(key_arr if known is None else np.concatenate([known[0], key_arr]))
            rows = np.zeros((len(new), f + 1), np.int64)
            for i, k in enumerate(new.tolist()):
                parts = []
                for _ in range(4 * len(self.pairs)):
                    parts.append(k % (f + 1))
                    k //= f + 1
                parts.reverse()
                keyt = tuple(parts)
                for size, cnt in _pair_histogram(keyt).items():
                    if size <= f:
                        rows[i, size] = cnt
            known = (new, np.ascontiguousarray(rows.T))
            self.known[f] = known
            idx = np.searchsorted(known[0], key_arr)
        present = np.flatnonzero(known[1].any(axis=1))  # group sizes any known key has
        table = known[1][present][:, idx]  # [K, B]
        sizes = present[:, None] * np.asarray(members)
        return np.atleast_2d(sizes), groups * table

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
