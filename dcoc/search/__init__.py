"""Search over the co-design space: the shared action vocabulary, MCTS, proposers and
non-RL baselines."""
