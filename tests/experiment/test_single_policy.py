"""Method ``ppo`` (``agents.single_policy``): one policy on the joint view. Its recorded env
writes exactly the records of the three-agent recorded env for the same decisions, the
confidence proposal phase runs on the one policy, the config is validated, and (slow) a tiny
``python -m dcoc.search --method ppo`` run spends its budget and reports a best EDP."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dcoc.agents.actor_module import MaskedActorModule
from dcoc.agents.confidence import ConfidenceConfig
from dcoc.agents.trainer import PolicySampler
from dcoc.envs.codesign_joint import JOINT_AGENT, JointSpace
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from dcoc.errors import ConfigError
from dcoc.experiment.environment import JOINT_CODESIGN_FACTORY, plan_env
from dcoc.experiment.loader import load_config
from dcoc.experiment.proposals import KEPT_METHOD, confidence_round
from dcoc.experiment.recorded_env import (
    make_recorded_codesign_env,
    make_recorded_joint_codesign_env,
)
from dcoc.records import RecordsDB
from dcoc.search.action_masks import mask_allows, sample_masked

ROOT = Path(__file__).resolve().parents[2]
ENV = {"workload": ("resnet18/C5", "resnet18/C8"), "reference_samples": 4, "seed": 0}
COLUMNS = "target, workload, method, trial, design, valid, error, cycles, energy_pj, area_um2, edp"


def _rows(path: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT {COLUMNS} FROM candidates ORDER BY id").fetchall()
    finally:
        db.close()


def test_joint_view_records_exactly_like_the_three_agent_env(tmp_path: Path) -> None:
    joint = make_recorded_joint_codesign_env({**ENV, "records_path": str(tmp_path / "a.sqlite")})
    multi = make_recorded_codesign_env({**ENV, "records_path": str(tmp_path / "b.sqlite")})
    space = joint.space
    rng = np.random.default_rng(3)
    for episode in range(5):
        obs, _ = joint.reset(seed=episode)
        multi.reset(seed=episode)
        done = False
        while not done:
            role = joint.current_role
            assert role is not None
            action = sample_masked(obs[JOINT_AGENT]["action_mask"], space.nvec, rng)
            obs, _, term, _, _ = joint.step({JOINT_AGENT: action})
            multi.step({role: space.role_action(role, action)})
            done = term["__all__"]
    recorded = joint.env
    assert recorded.episodes == multi.episodes == 5
    assert recorded.evaluator.calls == multi.evaluator.calls
    rows = _rows(tmp_path / "a.sqlite")
    assert rows == _rows(tmp_path / "b.sqlite")
    ppo = [r for r in rows if r[2] == "ppo"]
    assert len(ppo) == 5 * 2  # one evaluation per layer and episode (one round per layer)
    assert [r[3] for r in ppo] == [e for e in range(5) for _ in range(2)]
    joint.close()
    multi.close()


def _joint_module(space: JointSpace) -> Any:
    return RLModuleSpec(
        module_class=MaskedActorModule,
        observation_space=space.observation_space,
        action_space=space.action_space,
        model_config={"hidden_sizes": [16], "value_head": True},
    ).build()


def test_confidence_round_runs_on_the_single_policy(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    env = make_recorded_codesign_env({**ENV, "records_path": str(path)})
    space = JointSpace.of(env)
    module = _joint_module(space)
    sampler = PolicySampler(
        lambda: {JOINT_AGENT: module},
        [JOINT_AGENT],
        ConfidenceConfig(num_candidates=8, keep_fraction=0.25),
        3,
        joint=space,
    )
    obs, _ = env.reset(seed=0)
    selection = sampler.propose("hw", obs["hw"])
    hw_nvec = space.nvecs[0]
    actions = selection.candidates.actions["hw"]
    assert actions.shape == (8, len(hw_nvec))
    assert all(mask_allows(obs["hw"]["action_mask"], hw_nvec, a) for a in actions)
    # the other roles' blocks are forced to index 0: the joint log-probability is the role's
    assert np.all(selection.candidates.logp["hw"] <= 0.0)
    tile = sampler.sample("hw", obs["hw"])
    assert tile.shape == (len(hw_nvec),)
    # A kept candidate over the area budget ends its episode before any evaluation, so one
    # round of an untrained policy may evaluate nothing: every round's count must equal its
    # records, and some round must evaluate.
    evaluated = 0
    for seed in range(5, 15):
        start = len(_rows(path))
        rnd = confidence_round(env, sampler, enabled=True, measure_skipped=False, seed=seed)
        kept = [r for r in _rows(path)[start:] if r[2] == KEPT_METHOD]
        assert rnd.drawn == 8 and rnd.kept == 2
        assert rnd.evaluations == len(kept)
        evaluated += rnd.evaluations
    assert evaluated > 0
    env.close()


def test_single_policy_config_is_validated_and_planned(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agents\.single_policy.*critic: independent"):
        load_config(None, ["agents.single_policy=true"])
    with pytest.raises(ConfigError, match="codesign mode only"):
        load_config(
            None,
            [
                "mode=cpu_schedule",
                "agents.single_policy=true",
                "agents.critic=independent",
                "confidence.num_candidates=0",
            ],
        )
    config = load_config(None, ["agents.single_policy=true", "agents.critic=independent"])
    plan = plan_env(config, tmp_path / "records.sqlite", "<defaults>")
    assert plan.factory == JOINT_CODESIGN_FACTORY and plan.agent_ids == (JOINT_AGENT,)


@pytest.mark.slow
def test_ppo_search_cli_spends_the_budget_and_reports_a_best_edp(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    args = ["--target", "accel", "--workload", "resnet18/C5,resnet18/C8", "--method", "ppo"]
    args += ["--trials", "300", "--run-dir", str(run_dir), "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcoc.search", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        proc.kill()
        # the searcher's embedded Ray lives in /tmp/dcoc-ray-search-<pid> (rl_search)
        shutil.rmtree(f"/tmp/dcoc-ray-search-{proc.pid}", ignore_errors=True)
    assert proc.returncode == 0, stderr[-3000:]
    out = json.loads(stdout)
    assert out["method"] == "ppo" and out["evaluations"] == 300
    assert out["best_edp"] is not None and out["best_edp"] > 0
    train = run_dir / "train"
    config = (train / "config.yaml").read_text()
    assert "single_policy: true" in config and "critic: independent" in config
    with RecordsDB.open(train) as db:  # the training run's own records, before the copy
        counted = db.count(method="ppo") + db.count(method="confidence")
    assert counted >= 300
    summary = json.loads((train / "summary.json").read_text())
    assert summary["evaluations"] >= 300 and summary["best_objective"] is not None
