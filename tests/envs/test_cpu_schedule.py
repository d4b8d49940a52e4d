"""CpuScheduleEnv: masks against the design space, a measured and recorded episode, rewards,
failed candidates (wrong result, masked index, run timeout), determinism of decisions, the
batch interface, Gymnasium's and RLlib's checkers and the no-ray rule."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from dcoc.agents import contract
from dcoc.envs.cpu_schedule import CpuScheduleEnv
from dcoc.envs.cpu_schedule_measure import ScheduleEvaluator
from dcoc.envs.cpu_schedule_single import CpuTilingEnv
from dcoc.envs.protocol import ALL_DONE, INFO_KEY, ObsKey
from gymnasium.utils.env_checker import check_env

from dcoc.records import RecordsDB
from dcoc.search.codesign_space import sample_masked, split_mask
from dcoc.tvm.design_space import IllegalDecisionError, apply_decisions, check_decisions
from dcoc.tvm.measure import ErrorKind

FAST = {"repeat": 2, "min_repeat_ms": 2, "warmup_runs": 1}


@pytest.fixture(scope="module")
def episode_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CpuScheduleEnv]:
    """``matmul:64,64,64``, four candidates per episode, records in a temporary SQLite file."""
    path = tmp_path_factory.mktemp("cpu") / "records.sqlite"
    env = CpuScheduleEnv(
        {
            "workload": "matmul:64,64,64",
            "candidates_per_episode": 4,
            "records_path": str(path),
            **FAST,
        }
    )
    yield env
    env.close()


def _play(env: CpuScheduleEnv, seed: int) -> list[tuple[Any, ...]]:
    """A masked random episode; per candidate (point, reward, info of the next agent)."""
    obs, _ = env.reset(seed=seed)
    out, done = [], False
    while not done:
        agent = env.current_agent
        assert agent is not None and list(obs) == [agent]
        assert env.observation_spaces[agent].contains(obs[agent])
        action = env.sample_action(agent)
        obs, rewards, terminated, truncated, infos = env.step({agent: action})
        assert not truncated[ALL_DONE]
        done = terminated[ALL_DONE]
        if rewards:
            assert rewards["sw_tile"] == rewards["sw_order"]
            info = next(iter(infos.values()))
            out.append((env.history[-1].point, rewards["sw_tile"], info))
    assert sorted(obs) == ["sw_order", "sw_tile"] and sorted(infos) == ["sw_order", "sw_tile"]
    return out


@pytest.mark.parametrize("workload", ["matmul:64,64,64", "resnet18/C5"])
def test_masked_actions_decode_to_legal_decisions(workload: str) -> None:
    evaluator = ScheduleEvaluator({"workload": workload})  # no measurement: no worker started
    sp, ds = evaluator.space, evaluator.design_space
    assert sp.order_slots[0].name == "sketch" and len(sp.order_slots[0].choices) == 3
    assert [s.name for s in sp.order_slots[1:]] == ["unroll_explicit"]
    rng = np.random.default_rng(0)
    for i in range(300):
        tile = sample_masked(sp.tile_mask(), sp.tile_nvec, rng)
        order = sample_masked(sp.order_mask(), sp.order_nvec, rng)
        point = sp.decode(tile, order)
        sketch = ds.sketches[point.sketch]
        assert check_decisions(sketch, point.decisions) == point.decisions
        round_trip = sp.decode(*sp.encode(point))
        assert round_trip == point
        if i < 5:  # TVM replays the decisions without re-sampling any of them
            apply_decisions(sketch, point.decisions)
    # every masked-out entry is refused, every unmasked one decodes
    for nvec, mask, default, other, is_tile in (
        (sp.tile_nvec, sp.tile_mask(), sp.default_tile_action(), sp.default_order_action(), 1),
        (sp.order_nvec, sp.order_mask(), sp.default_order_action(), sp.default_tile_action(), 0),
    ):
        for j, block in enumerate(split_mask(mask, nvec)):
            for value, allowed in enumerate(block):
                action = default.copy()
                action[j] = value
                pair = (action, other) if is_tile else (other, action)
                if allowed:
                    sp.decode(*pair)
                else:
                    with pytest.raises(IllegalDecisionError):
                        sp.decode(*pair)
    assert sp.decode(sp.default_tile_action(), sp.default_order_action()) == sp.reference_point()
    evaluator.close()


def test_spaces_meet_the_agents_contract(episode_env: CpuScheduleEnv) -> None:
    contract.check_agent_spaces(episode_env.observation_spaces, episode_env.action_spaces)
    assert episode_env.possible_agents == ["sw_tile", "sw_order"]


def test_episode_measures_records_and_rewards_faster_schedules_more(
    episode_env: CpuScheduleEnv,
) -> None:
    env = episode_env
    records = env.evaluator.records
    assert records is not None
    before = records.count()
    played = _play(env, seed=0)
    assert len(played) == 4 and len(env.history) == 4
    reference = env.evaluator.reference_latency_s
    assert reference is not None and reference > 0
    stored = list(records.iterate())[before:]
    if before == 0:  # the reference is measured with the first candidate and recorded first
        assert stored[0].metrics["role"] == "reference" and stored[0].latency_s == reference
        stored = stored[1:]
    assert len(stored) == 4
    best = math.inf
    for (point, reward, info), record, result in zip(played, stored, env.history, strict=True):
        metrics = info[INFO_KEY]
        assert result.valid and record.valid and record.verified and record.error is None
        assert record.id == result.record_id and record.trace is not None
        assert record.design == point.to_json()
        assert (record.workload, record.method) == ("matmul:64,64,64", "cpu_schedule_env")
        assert record.latency_s == metrics["latency_s"] == result.latency_s
        assert reward == pytest.approx(math.log(reference / record.latency_s), rel=1e-12)
        assert metrics["gflops"] == pytest.approx(2 * 64**3 / record.latency_s / 1e9)
        best = min(best, record.latency_s)
        assert metrics["best_latency_s"] == best and metrics["valid"] == 1.0
        assert info["error"] == ""
    # faster candidates earn strictly more
    by_latency = sorted(played, key=lambda p: p[2][INFO_KEY]["latency_s"])
    rewards = [p[1] for p in by_latency]
    assert rewards == sorted(rewards, reverse=True) and len(set(rewards)) == len(rewards)


def test_same_seed_gives_the_same_decisions(episode_env: CpuScheduleEnv) -> None:
    first = [p for p, _, _ in _play(episode_env, seed=7)]
    second = [p for p, _, _ in _play(episode_env, seed=7)]
    other = [p for p, _, _ in _play(episode_env, seed=8)]
    assert first == second and first != other


def test_batch_interface_measures_in_order_and_records_every_candidate(
    episode_env: CpuScheduleEnv,
) -> None:
    env, sp = episode_env, episode_env.space
    records = env.evaluator.records
    assert records is not None
    before = records.count()
    rng = np.random.default_rng(3)
    points = [
        env.decode(
            sample_masked(sp.tile_mask(), sp.tile_nvec, rng),
            sample_masked(sp.order_mask(), sp.order_nvec, rng),
        )
        for _ in range(2)
    ]
    masked = (np.full(len(sp.tile_nvec), sp.tile_width - 1), sp.default_order_action())
    results = env.measure_candidates([points[0], masked, points[1]])
    assert [r.point for r in results] == [points[0], None, points[1]]
    assert results[0].valid and results[2].valid
    assert results[1].error_kind is ErrorKind.SCHEDULE_ERROR and not results[1].valid
    stored = list(records.iterate())[before:]
    assert [r.id for r in stored] == [r.record_id for r in results]
    assert [r.valid for r in stored] == [True, False, True]
    assert stored[1].design == {
        "tile_action": masked[0].tolist(),
        "order_action": masked[1].tolist(),
    }


def test_failed_candidates_get_the_penalty_and_a_failed_record(tmp_path: Path) -> None:
    # rtol=0: float32 results never equal the float64 reference exactly -> wrong result
    path = tmp_path / "records.sqlite"
    env = CpuScheduleEnv(
        {
            "workload": "matmul:16,16,16",
            "candidates_per_episode": 2,
            "records_path": str(path),
            "rtol": 0.0,
            "invalid_reward": -7.0,
            **FAST,
        }
    )
    env.reset(seed=0)
    sp = env.space
    env.step({"sw_tile": env.sample_action("sw_tile")})
    _, rewards, _, _, infos = env.step({"sw_order": env.sample_action("sw_order")})
    assert rewards["sw_tile"] == -7.0
    info = infos["sw_tile"]
    assert info["error_kind"] == "wrong_result" and info[INFO_KEY]["valid"] == 0.0
    assert info[INFO_KEY]["latency_s"] == math.inf and info[INFO_KEY]["gflops"] == 0.0
    # a masked tiling index: penalty, no measurement, still recorded
    bad_tile = np.full(len(sp.tile_nvec), sp.tile_width - 1)
    env.step({"sw_tile": bad_tile})
    _, rewards, terminated, _, infos = env.step({"sw_order": sp.default_order_action()})
    assert rewards["sw_order"] == -7.0 and terminated[ALL_DONE]
    assert infos["sw_order"]["error_kind"] == "schedule_error"
    assert env.evaluator.reference_latency_s is None  # the reference failed too
    env.close()
    with RecordsDB.open(path) as db:
        stored = list(db.iterate())
        assert db.failed_count() == 3 and db.best("matmul:16,16,16") == []
    assert [r.valid for r in stored] == [False, False, False]
    assert [r.metrics.get("role") for r in stored] == ["reference", None, None]
    assert stored[1].error is not None and stored[1].error.startswith("wrong_result")
    assert stored[2].error is not None and stored[2].error.startswith("schedule_error")


def test_a_run_timeout_is_a_failed_candidate(tmp_path: Path) -> None:
    config = {
        "workload": "matmul:16,16,16",
        "records_path": str(tmp_path / "r.sqlite"),
        "run_timeout_s": 0.0,
        "reference_latency_s": 1e-3,
        **FAST,
    }
    with ScheduleEvaluator(config) as evaluator:
        (result,) = evaluator.measure_candidates([evaluator.reference_point()])
        assert result.error_kind is ErrorKind.RUN_TIMEOUT and result.build_s is not None
        assert evaluator.reward(result) == evaluator.config.invalid_reward
        assert evaluator.records is not None and evaluator.records.failed_count() == 1


def test_single_agent_env_passes_gymnasium_check_env() -> None:
    env = gym.make(
        "dcoc/CpuSchedule-v0",
        config={"workload": "matmul:16,16,16", "candidates_per_episode": 2, **FAST},
    )
    check_env(env.unwrapped, skip_render_check=True)
    unwrapped = env.unwrapped
    assert isinstance(unwrapped, CpuTilingEnv)
    obs, _ = env.reset(seed=1)
    steps, done = 0, False
    while not done:
        action = sample_masked(
            obs[ObsKey.ACTION_MASK.value], env.action_space.nvec, np.random.default_rng(steps)
        )
        obs, reward, done, truncated, info = env.step(action)
        assert info["error"] == "" and np.isfinite(reward) and not truncated
        steps += 1
    assert steps == 2
    assert [r.point.sketch for r in unwrapped.multi.history if r.point] == [0, 0]
    env.close()


def test_rllib_adapter_accepts_the_env() -> None:
    from dcoc.agents.env_adapter import make_rllib_env
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    env = make_rllib_env(
        "dcoc.envs.cpu_schedule:make_cpu_schedule_env",
        {"workload": "matmul:8,8,8", "candidates_per_episode": 1, **FAST},
    )
    check_multiagent_environments(env)
    obs, _ = env.reset(seed=0)
    assert list(obs) == ["sw_tile"]
    assert env.observation_spaces["sw_tile"].contains(obs["sw_tile"])
    env.close()


def test_cpu_schedule_envs_import_no_ray() -> None:
    code = (
        "import sys, dcoc.envs.cpu_schedule, dcoc.envs.cpu_schedule_single\n"
        "bad = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')"
        " or m.startswith('dcoc.agents'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
