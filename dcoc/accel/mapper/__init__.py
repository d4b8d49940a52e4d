"""The mapper: search one layer's mapspace, like ``timeloop-mapper``.

* :mod:`~dcoc.accel.mapper.constraints`: Timeloop's mapspace constraints;
* :mod:`~dcoc.accel.mapper.mapspace`: the mapspace (factorizations x permutations x bypass),
  its points and draws;
* :mod:`~dcoc.accel.mapper.search`: the algorithms (``random-pruned``, ``exhaustive``,
  ``random-pruned-climb``) over an evaluator, the objective;
* :mod:`~dcoc.accel.mapper.inputs`: mapper YAML files to a mapspace and settings;
* :mod:`~dcoc.accel.mapper.command`: ``python -m dcoc.accel map``;
* :mod:`~dcoc.accel.mapper.random_mappings`: random legal mappings that respect an
  architecture's constraints (tests, benchmarks).
"""
