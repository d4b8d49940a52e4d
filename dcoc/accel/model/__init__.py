"""The model: one mapping of one problem on one architecture, evaluated exactly as Timeloop does.

* :mod:`~dcoc.accel.model.evaluation`: :func:`evaluate`, the entry point (validity checks, then
  an engine, then the cost);
* :mod:`~dcoc.accel.model.nest`: the mapping lowered to a loop nest;
  :mod:`~dcoc.accel.model.nest_analysis`: what an engine tells the cost (per level and data
  space: tiles, accesses, multicast);
* :mod:`~dcoc.accel.model.delta_engine`: the reference engine, Timeloop's delta simulation of
  the nest, step by step;
* :mod:`~dcoc.accel.model.closed_form`: the same counts in closed form (the default engine);
* :mod:`~dcoc.accel.model.cost`: counts to accesses, energy, cycles and area (Timeloop's
  rounding);
* :mod:`~dcoc.accel.model.cached_evaluator`: many mappings of one (architecture, problem,
  tables), fast, with the mapping-independent numbers precomputed by
  :mod:`~dcoc.accel.model.summary_constants`.
"""

from dcoc.accel.model.evaluation import evaluate, mapping_violations

__all__ = ["evaluate", "mapping_violations"]
