"""RLlib glue of dcoc, installed as ``dcoc.agents``: RL modules (actors, centralized critic),
the algorithm config builder, callbacks and metrics. The only package that imports ray."""
