"""Gymnasium / PettingZoo environments of dcoc, installed as ``dcoc.envs``.

This package never imports ray: environments are plain Gymnasium code that RLlib (in
``dcoc.agents``) or any other RL library can drive.
"""
