"""The multi-agent dict protocol's names, defined here so that ray-free code can use them.

``dcoc.agents.contract`` (the RLlib side) defines the same values; ``tests/envs`` checks that
both agree. Every agent observes ``{observations, action_mask, global_state}``
(:class:`ObsKey`); agents act in :data:`TURN_ORDER`; dcoc metrics travel in
``info[agent][INFO_KEY]``.
"""

from __future__ import annotations

from enum import StrEnum


class ObsKey(StrEnum):
    """Keys of every agent's Dict observation."""

    OBSERVATIONS = "observations"
    ACTION_MASK = "action_mask"
    GLOBAL_STATE = "global_state"


class AgentId(StrEnum):
    """The three co-design agents."""

    HW = "hw"
    SW_TILE = "sw_tile"
    SW_ORDER = "sw_order"


TURN_ORDER: tuple[AgentId, ...] = (AgentId.HW, AgentId.SW_TILE, AgentId.SW_ORDER)
"""The hardware agent acts first, then tiling, then ordering."""

INFO_KEY = "dcoc"
"""Env infos carry dcoc metrics under ``info[agent_id][INFO_KEY] = {name: float}``."""

ALL_DONE = "__all__"
"""Key of the terminated/truncated dicts that ends the episode for every agent."""
