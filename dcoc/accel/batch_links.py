"""Neighbour link transfers in the batched evaluator: a vectorized detector and an exact patch.

Timeloop lets the children of a spatial fanout take a delta from a mesh neighbour's previous
delta when that cuts the parent's accesses (:func:`dcoc.accel.closed_form.link_accesses`).
The batched closed form does not model this; instead

* :meth:`BatchLinks.candidates` flags, vectorized, every element where a link *may* occur, by
  the sufficient no-link condition of :class:`~dcoc.accel.closed_form.LinkDetector` without its
  last (per-group) step: at a spatial level L, a temporal loop j of L or above, below every
  loop that moves a one-term data dimension, must translate the child tile by at most the
  spread of L's element offsets along every sliding-window data dimension (and, except under
  the legacy rule, by a non-zero amount);
* :meth:`BatchLinks.patch` runs the exact scalar closed form (with links) on the flagged
  elements and overwrites their multicast entries and link words.

Everything else stays vectorized; the flagged elements cost a scalar analysis each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dcoc.accel.batch_inputs import MappingBatch
from dcoc.accel.batch_vec import Vec
from dcoc.accel.closed_form import analyze
from dcoc.accel.nest import lower
from dcoc.workloads.problem import Problem

Projection = tuple[tuple[tuple[int, int], ...], ...]


class BatchLinks:
    """Link-transfer handling of one (architecture template, problem, stride rule)."""

    def __init__(
        self,
        problem: Problem,
        projs: tuple[Projection, ...],
        fanout_xy: Sequence[tuple[int, int]],
        legacy: bool,
    ) -> None:
        self.problem = problem
        self.projs = projs
        self.fanout_xy = tuple(fanout_xy)
        self.legacy = legacy
        self.num_dims = nd = len(problem.dimensions)
        self.spatial_levels = [li for li, (x, y) in enumerate(fanout_xy) if li > 0 and x * y > 1]
        # per data space with sliding windows: single-term dims, window terms
        self.windowed: list[tuple[int, frozenset[int], tuple[tuple[tuple[int, int], ...], ...]]]
        self.windowed = []
        for s, p in enumerate(projs):
            windows = tuple(terms for terms in p if len(terms) > 1)
            if windows:
                single = frozenset(d for terms in p if len(terms) == 1 for d, c in terms if c)
                self.windowed.append((s, single, windows))
        self.movable = [[d for d in range(nd) if d not in single] for _, single, _ in self.windowed]

    @property
    def possible(self) -> bool:
        return bool(self.spatial_levels and self.windowed)

    def candidates(
        self,
        tt: list[list[Vec]],
        ss: list[list[Vec]],
        below: list[list[Vec]],
        master: list[list[Vec]],
        nt: list[dict[int, np.ndarray]],
        rank: np.ndarray,
        nb: int,
    ) -> np.ndarray:
        """[B] bool: a link transfer may occur (False: it certainly does not).

        ``rank``: [B, L, D] loop positions in each level's temporal order (0 innermost)."""
        nl = len(tt)
        flag = np.zeros(nb, bool)
        for li_sp in self.spatial_levels:
            fan_used = np.ones(nb, bool)
            fan: Vec = 1
            for d in range(self.num_dims):
                fan = fan * ss[li_sp][d]
            if isinstance(fan, int):
                if fan <= 1:
                    continue
            else:
                fan_used = fan > 1
            for (_, single, windows), movable in zip(self.windowed, self.movable, strict=True):
                wdims = sorted({d for terms in windows for d, _ in terms})
                live = fan_used.copy()
                if not self.legacy:
                    touched = np.zeros(nb, bool)
                    for d in wdims:
                        touched |= np.asarray(ss[li_sp][d]) > 1
                    live &= touched
                if not live.any():
                    continue
                limits = [
                    sum(abs(c) * (master[li_sp][d] - below[li_sp][d]) for d, c in terms)
                    for terms in windows
                ]
                cum: list[Vec] = [0] * len(windows)  # moves of the levels below, per window
                blocked: Vec = False  # a one-term data dimension moved below
                for li in range(li_sp, nl):
                    acts = nt[li]
                    if not acts:
                        continue
                    r_l = rank[:, li, :]
                    single_rank: Vec = self.num_dims
                    for d in single:
                        if d in acts:
                            single_rank = np.minimum(single_rank, np.where(acts[d], r_l[:, d], 99))
                    own = [
                        {d: c * master[li][d] * acts[d] for d, c in terms if d in acts}
                        for terms in windows
                    ]
                    for d in movable:
                        if d not in acts:
                            continue
                        rd = r_l[:, d]
                        ok = live & acts[d] & ~np.asarray(blocked) & (rd < single_rank)
                        if not ok.any():
                            continue
                        nonzero = np.zeros(nb, bool)
                        within = ok
                        for k, own_k in enumerate(own):
                            t: Vec = own_k.get(d, 0) - cum[k]
                            for d2, v in own_k.items():
                                if d2 != d:
                                    t = t - np.where(r_l[:, d2] < rd, v, 0)
                            nonzero |= np.asarray(t) != 0
                            within = within & (np.abs(t) <= limits[k])
                        flag |= within if self.legacy else within & nonzero
                    for k, own_k in enumerate(own):
                        for v in own_k.values():
                            cum[k] = cum[k] + v
                    for d in single:
                        if d in acts:
                            blocked = blocked | acts[d]
        return flag

    def patch(
        self,
        batch: MappingBatch,
        index: np.ndarray,
        ent_m: list[list[Vec]],
        ent_a: list[list[np.ndarray]],
        nb: int,
    ) -> list[list[Vec]]:
        """Overwrite, for the elements at ``index``, the multicast entries of the spatial
        levels of sliding-window data spaces with the exact ones (with link transfers); return
        the link words per level and data space (0 or [B])."""
        nl, nds = len(ent_m), len(self.projs)
        links: list[list[Vec]] = [[0] * nds for _ in range(nl)]
        mappings = batch.take(index).to_mappings()
        found: dict[tuple[int, int], list[tuple[int, tuple[tuple[int, int], ...], int]]] = {}
        for col, mapping in zip(index.tolist(), mappings, strict=True):
            nest = lower(mapping, self.num_dims, self.fanout_xy)
            analysis = analyze(nest, self.problem, legacy_translation=self.legacy)
            for li in self.spatial_levels:
                tiles = analysis.levels[li].tiles
                for s, _, _ in self.windowed:
                    tile = tiles[s]
                    found.setdefault((li, s), []).append((col, tile.accesses, tile.link_transfers))
        for (li, s), rows in found.items():
            cols = np.array([c for c, _, _ in rows], np.int64)
            a = ent_a[li][s].copy()
            a[:, cols] = 0
            sizes = sorted({m for _, entries, _ in rows for m, _ in entries})
            new_a = np.zeros((len(sizes), nb), np.int64)
            pos = {m: i for i, m in enumerate(sizes)}
            words = np.zeros(nb, np.int64)
            for col, entries, link in rows:
                for m, acc in entries:
                    new_a[pos[m], col] = acc
                words[col] = link
            m_old = ent_m[li][s]
            if isinstance(m_old, int):
                m_old = np.full((a.shape[0], 1), m_old, np.int64)
            if m_old.shape[1] == 1:
                m_new = np.array(sizes, np.int64)[:, None]
            else:
                m_new = np.repeat(np.array(sizes, np.int64)[:, None], nb, axis=1)
            ent_m[li][s] = np.concatenate([m_old, m_new])
            ent_a[li][s] = np.concatenate([a, new_a])
            if words.any():
                links[li][s] = words
        return links
