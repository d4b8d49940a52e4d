"""The co-design vocabulary: budget masks, per-configuration tiling masks, fanout repair and
ordering masks, checked against the design space, MapSpace and the accelerator model."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcoc.accel import evaluate, load_model_inputs
from dcoc.accel.mapper.mapspace import MapSpace
from dcoc.accel.model.evaluation import mapping_violations
from dcoc.accel.spec.design_space import load_design_space
from dcoc.objective import Objective
from dcoc.search.action_masks import mask_allows, sample_masked, split_mask
from dcoc.search.codesign_space import CoDesignSpace, HardwareContext
from dcoc.search.design_files import design_files
from dcoc.workloads.catalog import load_network, resolve_workload

SPACE = Path(__file__).resolve().parents[2] / "accel_specs" / "eyeriss_like.space.yaml"


@cache
def _space() -> CoDesignSpace:
    layers = load_network("resnet18").subset("vta").layers
    return CoDesignSpace(load_design_space(SPACE), [layers[0], layers[3], layers[9]])


def _random_hardware(seed: int) -> tuple[CoDesignSpace, np.random.Generator, HardwareContext]:
    """The test space, a generator seeded ``seed`` and a random in-mask hardware context
    drawn from it (the generator goes on from there)."""
    space = _space()
    rng = np.random.default_rng(seed)
    return space, rng, space.hardware_context(sample_masked(space.hw_mask(), space.hw_nvec, rng))


def test_hw_mask_hides_exactly_values_without_a_completion_in_budget() -> None:
    design = load_design_space(SPACE)
    budget = design.area_um2(design.default())  # tighter than the file's 1.5x
    space = CoDesignSpace(design, [resolve_workload("resnet18/C5")], area_budget_um2=budget)
    assert space.area_budget_um2 == budget
    blocks = split_mask(space.hw_mask(), space.hw_nvec)
    masked = 0
    for k, block in enumerate(blocks):
        for v in range(space.hw_nvec[k]):
            indices = [0] * len(space.hw_nvec)
            indices[k] = v
            fits = design.area_um2(design.decode(indices)) <= budget
            assert bool(block[v]) == fits
            masked += not fits
    assert masked > 0  # the tighter budget does mask something
    ctx = space.hardware_context([n - 1 for n in space.hw_nvec])
    assert not ctx.fits_budget
    assert ctx.area_um2 == pytest.approx(design.area_um2(ctx.config))


def _fits_alone(own: MapSpace, d: int, row: tuple[int, ...]) -> bool:
    """Oracle: do the forced-kept tiles fit every level when only dimension ``d`` is tiled?"""
    f = np.ones((len(own.dims), len(own.slots)), dtype=np.int64)
    f[d] = row
    tiles = own.tile_sizes(f)
    for li, level in enumerate(own.arch.storage):
        cap = level.effective_size_words
        kept = [ds for ds, k in enumerate(own.constraints.levels[li].keep) if k]
        if cap is not None and sum(int(tiles[li, ds]) for ds in kept) > cap:
            return False
    return True


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_tile_mask_is_the_configuration_mapspace_minus_entries_that_never_fit(seed: int) -> None:
    space, _, ctx = _random_hardware(seed)
    for li, layer in enumerate(space.layers):
        own = MapSpace(ctx.arch, layer.problem)
        lc = space.layer_context(ctx, li)
        for d, block in enumerate(split_mask(lc.tile_mask, space.tile_nvec)):
            legal = set(own.factorizations[d])
            vocab = space.vocab[li][d]
            expected = [tuple(v) in legal and _fits_alone(own, d, tuple(v)) for v in vocab]
            assert block[: len(vocab)].astype(bool).tolist() == expected
            assert not block[len(vocab) :].any()


def test_entries_hidden_for_capacity_always_overflow() -> None:
    space = _space()
    ctx = space.hardware_context(space.default_hw_action())
    rng = np.random.default_rng(1)
    checked = 0
    for li, layer in enumerate(space.layers):
        own = MapSpace(ctx.arch, layer.problem)
        lc = space.layer_context(ctx, li)
        masks = split_mask(lc.tile_mask, space.tile_nvec)
        for d, vocab in enumerate(space.vocab[li]):
            hidden = [
                i
                for i, v in enumerate(vocab)
                if tuple(v) in set(own.factorizations[d]) and not masks[d][i]
            ]
            for i in hidden[:3]:
                tile, order = space.sample_layer_actions(ctx, li, rng)
                tile[d] = i
                mapping = space.decode(ctx, li, tile, order)
                report = evaluate(ctx.arch, layer.problem, mapping, tables=ctx.tables)
                assert report.summary() == space.evaluate(ctx, li, tile, order).report
                assert not report.valid
                assert any("capacity" in r for r in report.reasons), report.reasons
                checked += 1
    assert checked > 10


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_masked_in_actions_decode_to_mappings_that_pass_fanout_and_factor_checks(
    seed: int,
) -> None:
    space, rng, ctx = _random_hardware(seed)
    for li, layer in enumerate(space.layers):
        for _ in range(4):
            tile, order = space.sample_layer_actions(ctx, li, rng)
            mapping = space.decode(ctx, li, tile, order)
            assert mapping_violations(ctx.arch, layer.problem, mapping) == []
            report = evaluate(ctx.arch, layer.problem, mapping, tables=ctx.tables)
            assert report.summary() == space.evaluate(ctx, li, tile, order).report
            if not report.valid:  # only capacity may fail
                assert all("capacity" in r for r in report.reasons), report.reasons


def test_repair_moves_mesh_overflow_to_a_temporal_loop() -> None:
    space = _space()
    # pe_rows = 4: the PE mesh Y has fanout 4; pick C and M factorizations that each use 4 on Y.
    hw = list(space.default_hw_action())
    knobs = [k.name for k in space.design_space.knobs]
    hw[knobs.index("pe_rows")] = 0
    ctx = space.hardware_context(hw)
    assert ctx.arch.fanout_xy(3) == (1, 4)
    lc = space.layer_context(ctx, 0)
    ycol = [
        i for i, s in enumerate(lc.mapspace.slots) if s.level == 3 and s.axis.name == "SPATIAL_Y"
    ]
    tile = []
    masks = split_mask(lc.tile_mask, space.tile_nvec)
    for d, arr in enumerate(lc.vocab_to_slots):
        ok = np.flatnonzero(masks[d][: len(arr)])
        want = [i for i in ok if space.dims[d] in ("C", "M") and arr[i, ycol[0]] == 4]
        tile.append(int(want[0]) if want else int(ok[0]))
    raw = np.stack([lc.vocab_to_slots[d][a] for d, a in enumerate(tile)])
    assert int(np.prod(raw[:, ycol[0]])) == 16  # the raw choice overflows the mesh
    factors = space.decode_tile(ctx, 0, tile)
    assert int(np.prod(factors[:, ycol[0]])) <= 4
    assert (np.prod(factors, axis=1) == np.prod(raw, axis=1)).all()  # bounds kept
    mapping = space.mapping(ctx, 0, factors, space.default_order_action(ctx, 0, factors))
    assert mapping_violations(ctx.arch, space.layers[0].problem, mapping) == []


def test_order_mask_keeps_one_permutation_per_class() -> None:
    space = _space()
    ctx = space.hardware_context(space.default_hw_action())
    rng = np.random.default_rng(3)
    tile, _ = space.sample_layer_actions(ctx, 1, rng)
    factors = space.decode_tile(ctx, 1, tile)
    ms = space.layer_context(ctx, 1).mapspace
    temporal = ms.temporal_of(factors)
    blocks = split_mask(space.order_mask(ctx, 1, factors), space.order_nvec)
    for li in range(space.num_levels):
        nonunit = [d for d in ms.free_dims[li] if temporal[li][d] > 1]
        assert int(blocks[li].sum()) == math.factorial(len(nonunit))
        seen = set()
        for index in np.flatnonzero(blocks[li]):
            order = ms.permutation(li, int(index))
            seen.add(tuple(d for d in order if d in nonunit))
        assert len(seen) == math.factorial(len(nonunit))
    for block in blocks[space.num_levels :]:
        assert block[0] == 1  # bypass is always allowed


def test_default_order_action_fits_capacity_when_tiles_fit() -> None:
    space = _space()
    ctx = space.hardware_context(space.default_hw_action())
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(40):
        tile, order = space.sample_layer_actions(ctx, 0, rng)
        if not space.evaluate(ctx, 0, tile, np.zeros_like(order)).report.valid:
            continue  # forced keeps overflow already: no order can help
        factors = space.decode_tile(ctx, 0, tile)
        heuristic = space.default_order_action(ctx, 0, factors)
        assert space.evaluate(ctx, 0, tile, heuristic).report.valid
        checked += 1
    assert checked > 5


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_actions_of_inverts_decode_for_legal_mappings(seed: int) -> None:
    space, rng, ctx = _random_hardware(seed)
    for li, layer in enumerate(space.layers):
        own = MapSpace(ctx.arch, layer.problem)
        point = own.sample_legal(rng, max_tries=2000)
        if point is None:
            continue
        mapping = own.mapping(point)
        tile, order = space.actions_of(ctx, li, mapping, canonical=False)
        assert space.decode(ctx, li, tile, order) == mapping
        tile_c, order_c = space.actions_of(ctx, li, mapping)
        assert (tile_c == tile).all()
        factors = space.decode_tile(ctx, li, tile_c)
        mask = space.order_mask(ctx, li, factors)
        assert mask_allows(mask, space.order_nvec, order_c)
        exact = evaluate(ctx.arch, layer.problem, mapping, tables=ctx.tables)
        assert space.evaluate(ctx, li, tile_c, order_c).report == exact.summary()


def test_design_files_evaluate_to_the_same_report(tmp_path: Path) -> None:
    space = _space()
    hw = list(space.default_hw_action())
    hw[0] = 1  # not the template: the knobs must reach the architecture file
    ctx = space.hardware_context(hw)
    design = space.random_search(ctx, 2, np.random.default_rng(0), 16, Objective.EDP)
    assert design is not None
    files = design_files(space, ctx, [None, None, design])
    assert sorted(files) == sorted(
        ["architecture.yaml", f"{design.layer}.problem.yaml", f"{design.layer}.mapping.yaml"]
    )
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    inputs = load_model_inputs(paths)
    report = evaluate(inputs.architecture, inputs.problem, inputs.mapping, tables=inputs.tables)
    assert report.summary() == design.report


@cache
def _simba() -> CoDesignSpace:
    path = SPACE.with_name("simba_like.space.yaml")
    return CoDesignSpace(load_design_space(path), [resolve_workload("resnet18/C10")])


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_configurations_without_a_dummy_level_map_by_level_name(seed: int) -> None:
    # simba_like's meshes may be 1, which removes their dummy spatial levels: the vocabulary
    # (largest architecture's levels) must map onto the smaller level list by name.
    space = _simba()
    rng = np.random.default_rng(seed)
    hw = sample_masked(space.hw_mask(), space.hw_nvec, rng)
    hw[1] = 0  # buffers_per_pe = 1: no inter_distributed_buffers_spatial level
    ctx = space.hardware_context(hw)
    assert None in ctx.level_map and len(ctx.arch.storage) < space.num_levels
    for li, layer in enumerate(space.layers):
        own = MapSpace(ctx.arch, layer.problem)
        lc = space.layer_context(ctx, li)
        for d, block in enumerate(split_mask(lc.tile_mask, space.tile_nvec)):
            assert int(block.sum()) == sum(_fits_alone(own, d, f) for f in own.factorizations[d])
        for _ in range(3):
            tile, order = space.sample_layer_actions(ctx, li, rng)
            mapping = space.decode(ctx, li, tile, order)
            assert mapping_violations(ctx.arch, layer.problem, mapping) == []
            assert space.decode(ctx, li, *space.actions_of(ctx, li, mapping, canonical=False)) == (
                mapping
            )
        point = own.sample_legal(rng, max_tries=500)
        if point is not None:
            legal = own.mapping(point)
            tile, order = space.actions_of(ctx, li, legal)
            report = space.evaluate(ctx, li, tile, order).report
            assert report == space.evaluator(ctx.arch, layer.problem, legal, ctx.tables)
