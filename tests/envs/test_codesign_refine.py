"""CoDesignRefineEnv: the dict-protocol contract, turns, legal candidates, kept-only-if-better
software moves, the hardware agent's period reward, and every evaluation in the records."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dcoc.agents import contract
from dcoc.envs.codesign_refine import REWARD_SCALE, CoDesignRefineEnv

from dcoc.errors import ConfigError
from dcoc.experiment.environment import plan_env
from dcoc.experiment.loader import load_config
from dcoc.experiment.recorded_env import make_recorded_refine_env
from dcoc.records import RecordsDB
from dcoc.search.design_moves import is_legal

SMALL = {
    "workload": ("resnet18/C4", "resnet18/C5"),
    "refine_steps": 10,
    "refine_hw_every": 5,
    "seed": 0,
}


@cache
def _env() -> CoDesignRefineEnv:
    return CoDesignRefineEnv(SMALL)


def _episode(env: CoDesignRefineEnv, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Play masked random choices, checking each step; the per-step records."""
    obs, _ = env.reset()
    steps: list[dict[str, Any]] = []
    done = False
    while not done:
        ((agent, o),) = obs.items()
        assert agent == env.current_agent
        assert env.observation_spaces[agent].contains(o)
        choices = np.flatnonzero(o["action_mask"])
        assert choices.size >= 1
        assert env.state is not None and is_legal(env.space, env.state)
        before = env.scorer(env.state)
        choice = int(rng.choice(choices))
        move = env._candidates[choice].move
        obs, rew, term, trunc, infos = env.step({agent: np.array([choice])})
        assert not trunc["__all__"]
        done = term["__all__"]
        steps.append(
            {"agent": agent, "move": move, "before": before, "reward": rew, "infos": infos}
        )
    for agent, o in obs.items():
        assert env.observation_spaces[agent].contains(o)
    return steps


def test_spaces_meet_the_contract() -> None:
    env = _env()
    contract.check_agent_spaces(env.observation_spaces, env.action_spaces)
    sizes = {s["observations"].shape for s in env.observation_spaces.values()}
    assert len(sizes) == 1  # one layout for every role


def test_turns_rewards_and_final_infos() -> None:
    env = _env()
    steps = _episode(env, np.random.default_rng(1))
    assert [s["agent"] for s in steps] == ["hw", *["sw_tile", "sw_order"] * 2] * 2
    for s in steps:
        if s["agent"] != "hw":
            assert -2.0 <= s["reward"][s["agent"]] <= 5.0
    # the hardware agent is paid at the end of each of its periods
    assert "hw" in steps[4]["reward"] and "hw" in steps[9]["reward"]
    final = steps[-1]["infos"]
    assert set(final) == {"hw", "sw_tile", "sw_order"}
    best = final["hw"]["dcoc"]["best_so_far"]
    assert math.isfinite(best) and best > 0
    assert final["hw"]["dcoc"]["evaluations"] == env.task.evaluations


def test_software_moves_are_kept_only_if_they_improve() -> None:
    env = CoDesignRefineEnv(SMALL)
    rng = np.random.default_rng(2)
    for _ in range(2):
        obs, _ = env.reset()
        done = False
        while not done:
            ((agent, o),) = obs.items()
            assert env.state is not None
            before_state, before = env.state, env.scorer(env.state)
            assert before is not None
            choice = int(rng.choice(np.flatnonzero(o["action_mask"])))
            move = env._candidates[choice].move
            period_end = (env._t + 1) % env.hw_every == 0 or env._t + 1 == env.steps
            obs, rew, term, _, _ = env.step({agent: np.array([choice])})
            done = term["__all__"]
            if agent == "hw" or move is None or period_end:
                continue
            after_move = env.scorer(env.moves.apply(before_state, move))
            assert after_move is not None
            gain = before - after_move  # scores are -log J: higher is better
            expected = float(np.clip(-REWARD_SCALE * gain, -2.0, 5.0))
            assert rew[agent] == pytest.approx(expected)
            kept = env.moves.apply(before_state, move) if after_move > before else before_state
            assert env.state == kept
    # the incumbent is the best state the env scored
    assert env.incumbent is not None
    assert -env.scorer(env.incumbent) == pytest.approx(env._incumbent_log)  # type: ignore[operator]


def test_same_seed_same_episode() -> None:
    a = [s["move"] for s in _episode(CoDesignRefineEnv(SMALL), np.random.default_rng(3))]
    b = [s["move"] for s in _episode(CoDesignRefineEnv(SMALL), np.random.default_rng(3))]
    assert a == b


def test_recorded_env_writes_every_evaluation(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    env = make_recorded_refine_env({**SMALL, "records_path": str(path), "records_method": "ppo"})
    _episode(env, np.random.default_rng(4))
    evaluations = env.task.evaluations
    env.close()
    with RecordsDB.open(path) as db:
        assert db.count(method="ppo") == evaluations > 0


def test_refine_with_one_joint_policy_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(
        None,
        ["codesign.formulation=refine", "agents.single_policy=true", "agents.critic=independent"],
    )
    with pytest.raises(ConfigError) as err:
        plan_env(config, tmp_path / "records.sqlite", "cfg.yaml")
    assert err.value.yaml_path == ("agents", "single_policy")
    plan = plan_env(
        load_config(None, ["codesign.formulation=refine"]), tmp_path / "r.sqlite", "cfg.yaml"
    )
    assert plan.factory.endswith(":make_recorded_refine_env")


def test_rllib_adapter_accepts_the_env() -> None:
    from dcoc.agents.env_adapter import make_rllib_env
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    env = make_rllib_env("dcoc.experiment.recorded_env:make_recorded_refine_env", SMALL)
    check_multiagent_environments(env)
    obs, _ = env.reset(seed=0)
    assert list(obs) == ["hw"]


def test_first_episode_starts_from_the_given_design() -> None:
    """A seed design (as the tree search stores it) is where the first episode starts; a
    design of another layer set is refused."""
    from dcoc.search.design_moves import DesignState
    from dcoc.search.methods.mcts_search import state_from_json

    base = _env()
    start = base.moves.random_state(np.random.default_rng(5))
    stored = {
        "hw_action": list(start.hw),
        "tiles": [list(t) for t in start.tiles],
        "orders": [list(o) for o in start.orders],
    }
    env = CoDesignRefineEnv(SMALL, space=base.space, start=state_from_json(stored))
    env.reset()
    assert env.state == start
    assert env.incumbent == start  # scored, so it is the incumbent until a move beats it
    with pytest.raises(ValueError, match="start design"):
        CoDesignRefineEnv(
            SMALL, space=base.space, start=DesignState(start.hw, start.tiles[:1], start.orders[:1])
        )
    with pytest.raises(ValueError, match="not a stored design state"):
        state_from_json({"hw_action": [0], "tiles": "x"})


@pytest.mark.parametrize("patience", [0, 1])
def test_stale_episodes_restart_from_a_perturbed_incumbent(patience: int) -> None:
    """``refine_patience``: after that many episodes without a better incumbent the next
    starts elsewhere (a legal, perturbed incumbent that costs new evaluations); 0: never."""
    env = CoDesignRefineEnv({**SMALL, "refine_patience": patience}, space=_env().space)
    rng = np.random.default_rng(3)
    starts = []
    for _ in range(12):
        before = env.incumbent
        restarts = env.restarts
        env.reset()
        assert env.state is not None and is_legal(env.space, env.state)
        starts.append((before, env.state, env.restarts > restarts))
        steps = _episode_from_current(env, rng)
        assert steps[-1]["infos"][env.possible_agents[0]]["dcoc"]["restarts"] == env.restarts
    kicked = [(b, s) for b, s, k in starts if k]
    if patience == 0:
        assert not kicked and all(s == b for b, s, _ in starts[1:])
    else:
        assert kicked and all(s != b for b, s in kicked)


def _episode_from_current(env: CoDesignRefineEnv, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The rest of an episode already reset: masked random choices."""
    obs = env._observe([env._role(0)])
    steps: list[dict[str, Any]] = []
    done = False
    while not done:
        ((agent, o),) = obs.items()
        choice = int(rng.choice(np.flatnonzero(o["action_mask"])))
        obs, rew, term, _, infos = env.step({agent: np.array([choice])})
        done = term["__all__"]
        steps.append({"agent": agent, "reward": rew, "infos": infos})
    return steps
