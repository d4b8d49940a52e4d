"""Whole networks in one co-design space: convolutions, depthwise convolutions and the GEMMs of
fully connected layers share one hardware configuration and fixed-size action spaces."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import yaml
from dcoc.envs import CoDesignEnv

from dcoc.accel.mapper.constraints import UnknownDimensionError, build_constraints
from dcoc.accel.model.evaluation import evaluate, mapping_violations
from dcoc.accel.spec.design_space import load_design_space
from dcoc.errors import SpecError
from dcoc.search.action_masks import mask_allows, sample_masked, split_mask
from dcoc.search.codesign_space import CoDesignSpace
from dcoc.workloads.catalog import load_network, resolve_workload
from dcoc.workloads.problem import Problem
from dcoc.workloads.shapes import CNN_ROLES, cnn_constraint_names

SPECS = Path(__file__).resolve().parents[2] / "accel_specs"
NETWORKS = ("resnet18", "mobilenetv2", "vgg16")
DESIGN_SPACES = ("eyeriss_like", "simba_like")
BUILD_SECONDS: dict[tuple[str, str], float] = {}


@cache
def _space(network: str, design: str) -> CoDesignSpace:
    start = time.perf_counter()
    space = CoDesignSpace(
        load_design_space(SPECS / f"{design}.space.yaml"), load_network(network).layers
    )
    BUILD_SECONDS[network, design] = time.perf_counter() - start
    return space


def _case(network: str, design: str) -> object:
    big = design == "simba_like" and network != "resnet18"  # 3-8 s to build
    return pytest.param(network, design, marks=[pytest.mark.slow] if big else [])


CASES = [_case(n, d) for n in NETWORKS for d in DESIGN_SPACES]


@pytest.mark.parametrize(("network", "design"), CASES)
def test_whole_network_builds_with_padded_fixed_size_actions(network: str, design: str) -> None:
    space = _space(network, design)
    kinds = set(space.layer_dims)
    assert len(kinds) >= 2  # the network mixes operator kinds
    assert not space.single_kind
    assert len(space.tile_nvec) == max(len(d) for d in space.layer_dims)
    for d, n in enumerate(space.tile_nvec):
        sizes = [len(v[d]) for v in space.vocab if d < len(v)]
        assert n == max(sizes, default=1)
    assert {name for _, name in space.keep_pairs} <= {"Weights", "Inputs", "Outputs"}
    assert space.dims == space.layer_dims[0]
    ctx = space.hardware_context(space.default_hw_action())
    for li, dims in enumerate(space.layer_dims):
        blocks = split_mask(space.tile_mask(ctx, li), space.tile_nvec)
        for d, block in enumerate(blocks):
            if d < len(dims):
                assert block[: len(space.vocab[li][d])].any()
                assert not block[len(space.vocab[li][d]) :].any()
            else:  # a position past the layer's own dimensions: index 0 only
                assert block.tolist() == [1.0] + [0.0] * (len(block) - 1)


@pytest.mark.parametrize(("network", "design"), CASES)
def test_random_masked_actions_decode_to_the_bounds_and_evaluate(network: str, design: str) -> None:
    space = _space(network, design)
    rng = np.random.default_rng(7)
    ctx = space.hardware_context(sample_masked(space.hw_mask(), space.hw_nvec, rng))
    valid = 0
    for li, problem in enumerate(space.problems):
        dims = space.layer_dims[li]
        tile, order = space.sample_layer_actions(ctx, li, rng)
        assert tile[len(dims) :].tolist() == [0] * (len(space.tile_nvec) - len(dims))
        factors = space.decode_tile(ctx, li, tile)
        assert factors.shape[0] == len(dims)
        assert np.prod(factors, axis=1).tolist() == [problem.bounds[d] for d in dims]
        # padded positions are ignored: any in-range index there decodes the same
        noisy = tile.copy()
        noisy[len(dims) :] = np.asarray(space.tile_nvec[len(dims) :]) - 1
        assert (space.decode_tile(ctx, li, noisy) == factors).all()
        mask = space.order_mask(ctx, li, factors)
        assert mask_allows(mask, space.order_nvec, order)
        mapping = space.decode(ctx, li, tile, order)
        assert mapping_violations(ctx.arch, problem, mapping) == []
        report = evaluate(ctx.arch, problem, mapping, tables=ctx.tables)
        assert report.summary() == space.evaluate(ctx, li, tile, order).report
        if report.valid:
            valid += 1
        else:  # fanout and factors hold by construction: only buffer capacity may fail
            assert all("capacity" in r for r in report.reasons), report.reasons
    assert valid >= len(space.layers) // 4


@pytest.mark.parametrize(("network", "design"), CASES)
def test_actions_of_round_trips_for_every_operator_kind(network: str, design: str) -> None:
    space = _space(network, design)
    rng = np.random.default_rng(3)
    ctx = space.hardware_context(space.default_hw_action())
    firsts = {dims: li for li, dims in reversed(list(enumerate(space.layer_dims)))}
    for li in firsts.values():
        for _ in range(3):
            tile, order = space.sample_layer_actions(ctx, li, rng)
            mapping = space.decode(ctx, li, tile, order)
            raw_tile, raw_order = space.actions_of(ctx, li, mapping, canonical=False)
            assert space.decode(ctx, li, raw_tile, raw_order) == mapping
            tile_c, order_c = space.actions_of(ctx, li, mapping)
            factors = space.decode_tile(ctx, li, tile_c)
            assert mask_allows(space.tile_mask(ctx, li), space.tile_nvec, tile_c)
            assert mask_allows(space.order_mask(ctx, li, factors), space.order_nvec, order_c)
            assert space.evaluate(ctx, li, tile_c, order_c).report == (
                space.evaluate(ctx, li, tile, order).report
            )


def test_building_the_whole_networks_stays_within_seconds() -> None:
    for network in NETWORKS:
        _space(network, "eyeriss_like")
    # measured: 0.05-0.7 s on eyeriss_like (3-8 s on simba_like, whose vocabularies are larger)
    assert max(BUILD_SECONDS[n, "eyeriss_like"] for n in NETWORKS) < 20


def _mixed_layers() -> tuple[str, ...]:
    return ("mobilenetv2/block2_dw", "resnet18/fc", "resnet18/C4")


def test_codesign_env_runs_an_episode_on_a_mixed_layer_set() -> None:
    env = CoDesignEnv({"workload": _mixed_layers(), "reference_samples": 8, "rounds_per_layer": 2})
    sp = env.space
    assert len(set(sp.layer_dims)) == 3
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    steps, done, infos = 0, False, {}
    while not done:
        ((agent, o),) = obs.items()
        assert env.observation_spaces[agent].contains(o), agent
        nvec = env.action_spaces[agent].nvec
        assert all(block.sum() >= 1 for block in split_mask(o["action_mask"], nvec))
        if agent == "sw_tile":  # the GEMM's padded positions admit index 0 only
            blocks = split_mask(o["action_mask"], nvec)
            own = len(sp.layer_dims[env.layer_index])
            assert all(b.tolist() == [1.0] + [0.0] * (len(b) - 1) for b in blocks[own:])
        action = sample_masked(o["action_mask"], nvec, rng)
        obs, _, terminated, _, infos = env.step({agent: action})
        done = terminated["__all__"]
        steps += 1
    assert steps == 1 + 2 * len(sp.layers) * 2
    assert infos["hw"]["dcoc"]["layer"] == len(sp.layers)
    for agent, o in obs.items():
        assert env.observation_spaces[agent].contains(o)


def test_constraints_written_for_convolutions_read_through_cnn_roles() -> None:
    design = load_design_space(SPECS / "eyeriss_like.space.yaml")
    arch = design.architecture(design.default())
    conv = resolve_workload("resnet18/C4").problem
    gemm = resolve_workload("resnet18/fc").problem
    dw = resolve_workload("mobilenetv2/block2_dw").problem
    with pytest.raises(UnknownDimensionError, match="not a problem dimension"):
        build_constraints(arch, gemm)
    cnn = build_constraints(arch, conv)
    for problem in (gemm, dw):
        names = cnn_constraint_names(problem)
        assert names is not None
        own = build_constraints(arch, problem, dimension_names=names)
        roles = CNN_ROLES[problem.name]
        for level, lc, lo in zip(arch.storage, cnn.levels, own.levels, strict=True):
            assert lo.keep == lc.keep  # data spaces share their names
            for d, name in enumerate(problem.dimensions):
                if name in roles:  # the constraints of the CNN dimension it plays
                    c = conv.dimensions.index(roles[name])
                    assert lo.temporal.factors[d] == lc.temporal.factors[c]
                    assert lo.spatial.factors[d] == lc.spatial.factors[c]
                    assert lo.spatial.axis_of(d) == lc.spatial.axis_of(c)
                else:  # plays none: unconstrained (a depthwise G), but dummies loop nothing
                    assert lo.temporal.factors[d].exact == (1 if level.is_dummy else None)
                    assert lo.spatial.factors[d].exact is None


def _tight_design_space(tmp_path: Path) -> Path:
    """eyeriss_like with a 6-word weights scratchpad (3 rows of 2 words) that must hold the
    whole kernel width R (``R=0``: the full bound), whatever the knobs."""
    template = (SPECS / "eyeriss_like.yaml").read_text()
    old = "factors: [N=1, M=1, P=1, Q=1, S=1]"
    assert template.count(old) == 1
    text = template.replace(old, "factors: [N=1, M=1, P=1, Q=1, S=1, R=0]")
    assert text.count("depth: 192") == 1
    text = text.replace("depth: 192", "depth: 3")
    (tmp_path / "tight.yaml").write_text(text)
    space = yaml.safe_load((SPECS / "eyeriss_like.space.yaml").read_text())
    space["design_space"]["template"] = "tight.yaml"
    space["design_space"]["knobs"] = [
        k for k in space["design_space"]["knobs"] if k["name"] != "weights_spad_depth"
    ]
    path = tmp_path / "tight.space.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def test_a_layer_no_configuration_can_map_is_one_spec_error_naming_it(tmp_path: Path) -> None:
    design = load_design_space(_tight_design_space(tmp_path))
    small = resolve_workload("resnet18/C4")  # R=3: a 3-weight kernel row fits
    space = CoDesignSpace(design, [small])
    assert space.unmappable_dims(space.hardware_context(space.default_hw_action()), 0) == ()
    with pytest.raises(SpecError, match=r"conv1: .*R=7.*even on the largest configuration"):
        CoDesignSpace(design, [small, resolve_workload("resnet18/conv1")])  # R=7 never fits


@dataclass(frozen=True)
class _FileLayer:
    """A layer read from a file with a shape name dcoc does not know."""

    name: str
    problem: Problem
    count: int = 1


def test_a_layer_of_an_unknown_shape_is_a_spec_error_naming_it() -> None:
    gemm = resolve_workload("resnet18/fc").problem
    custom = replace(gemm, name="MyMatmul")
    design = load_design_space(SPECS / "eyeriss_like.space.yaml")
    with pytest.raises(SpecError, match=r"mine: .*'MyMatmul'.*not a problem dimension"):
        CoDesignSpace(design, [_FileLayer("mine", custom)])  # type: ignore[list-item]
