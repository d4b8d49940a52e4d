"""PPO advantages standardized over real timesteps, not RLlib's artificial bootstrap rows."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import numpy as np
import pytest
import ray
import torch
from dcoc.agents.actor_module import VALUE_OUT_GAIN, build_mlp
from dcoc.agents.config import build_algorithm_config
from dcoc.agents.learner import RealStepAdvantageStandardization, standardize_real_steps
from hypothesis import given, settings
from hypothesis import strategies as st
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing
from turn_env import make_turn_env

_finite = st.floats(-100.0, 100.0, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    real=st.lists(_finite, min_size=2, max_size=40),
    artificial=st.lists(_finite, min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_standardization_ignores_artificial_rows(
    real: list[float], artificial: list[float], seed: int
) -> None:
    values = np.array(real + artificial, np.float32)
    mask = np.array([True] * len(real) + [False] * len(artificial))
    order = np.random.default_rng(seed).permutation(len(values))
    values, mask = values[order], mask[order]
    out = standardize_real_steps(torch.as_tensor(values), torch.as_tensor(mask)).numpy()
    assert np.all(out[~mask] == 0.0)
    reals = values[mask].astype(np.float64)
    expected = (reals - reals.mean()) / max(reals.std(), 1e-4)
    np.testing.assert_allclose(out[mask], expected, rtol=1e-4, atol=1e-4)


def test_value_output_layer_is_not_shrunk_like_logits() -> None:
    torch.manual_seed(0)
    value_mlp = build_mlp(8, (16,), 1, out_gain=VALUE_OUT_GAIN)
    logits_mlp = build_mlp(8, (16,), 1)
    # Orthogonal init of a 1 x 16 row: its norm equals the gain.
    assert float(value_mlp[-1].weight.norm()) == pytest.approx(1.0, rel=1e-5)
    assert float(logits_mlp[-1].weight.norm()) == pytest.approx(0.01, rel=1e-5)


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    temp_dir = f"/tmp/dcoc-ray-learner-{os.getpid()}"
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
    yield
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.parametrize("critic", ["centralized", "independent"])
def test_learner_batch_advantages_are_standardized_over_real_steps(
    ray_session: None, critic: str
) -> None:
    config = build_algorithm_config(
        make_turn_env,
        critic=critic,  # type: ignore[arg-type]
        env_config={"num_rounds": 2},
        train_batch_size=120,
        minibatch_size=60,
        num_epochs=1,
        seed=0,
    )
    algo = config.build_algo()
    try:
        learner = algo.learner_group._learner
        assert learner is not None
        pieces = [type(p) for p in learner._learner_connector.connectors]
        assert pieces[-1] is RealStepAdvantageStandardization
        episodes = algo.env_runner.sample(num_timesteps=120, random_actions=False)
        batch = learner._learner_connector(
            rl_module=learner.module,
            batch={},
            episodes=episodes,
            shared_data={},
            metrics=learner.metrics,
        )
    finally:
        algo.stop()
    assert set(batch) == {"hw", "sw_tile", "sw_order"}
    for module_batch in batch.values():
        real = module_batch[Columns.LOSS_MASK].bool()
        advantages = module_batch[Postprocessing.ADVANTAGES]
        # Each episode chunk adds one artificial row: hw (1 step/episode) has many.
        assert int((~real).sum()) > 0
        assert abs(float(advantages[real].mean())) < 1e-5
        assert float(advantages[real].std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
        assert torch.all(advantages[~real] == 0)
