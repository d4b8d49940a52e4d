"""Pure helpers of the metrics callback (the callback itself runs in test_agents_training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dcoc.agents.callbacks import categorical_entropy, last_dcoc_info
from ray.rllib.utils.torch_utils import FLOAT_MIN


def test_categorical_entropy_of_uniform_and_masked_blocks() -> None:
    logits = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # uniform 4 + uniform 3
            [5.0, FLOAT_MIN, FLOAT_MIN, FLOAT_MIN, 1.0, 1.0, FLOAT_MIN],  # certain + 2-way
        ],
        dtype=np.float32,
    )
    entropy = categorical_entropy(logits, [4, 3])
    np.testing.assert_allclose(entropy, [math.log(4) + math.log(3), math.log(2)], rtol=1e-12)


def test_categorical_entropy_two_way_exact() -> None:
    p = 1 / (1 + math.exp(-2.0))
    expected = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert categorical_entropy(np.array([[2.0, 0.0]]), [2])[0] == pytest.approx(expected)


def test_last_dcoc_info_takes_last_numeric_entries() -> None:
    infos = [
        {},
        {"dcoc": {"best_edp": 5.0, "energy_pj": 2}},
        {"other": 1},
        {"dcoc": {"best_edp": 3.0, "label": "x", "area_um2": float("nan")}},
        {},
    ]
    assert last_dcoc_info(infos) == {"best_edp": 3.0}
    assert last_dcoc_info([{}, None]) == {}
