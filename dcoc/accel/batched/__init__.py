"""The batched model: thousands of mappings (and hardware configurations) in one numpy pass.

Every element equals :func:`dcoc.accel.model.evaluate` for that mapping, bit for bit.

* :mod:`~dcoc.accel.batched.inputs`: the batch as arrays (:class:`MappingBatch`,
  :class:`HardwareBatch`);
* :mod:`~dcoc.accel.batched.evaluator`: :class:`BatchEvaluator` and :func:`evaluate_batch`,
  which run the steps below in order (tile sizes, classic accesses and multicast entries are
  functions of that module);
* :mod:`~dcoc.accel.batched.constants`: what every batch of one template and problem shares;
* the closed form vectorized, each step a function of those constants and the batch:
  :mod:`~dcoc.accel.batched.nest` (the loop nest as per-element vectors),
  :mod:`~dcoc.accel.batched.sliding` (sliding-window accesses),
  :mod:`~dcoc.accel.batched.histogram` (multicast histograms, memoized),
  :mod:`~dcoc.accel.batched.links` (neighbour link transfers, memoized),
  :mod:`~dcoc.accel.batched.cost` (final counts and the cost arithmetic),
  :mod:`~dcoc.accel.batched.vec` (slot vectors, tile spans and sizes);
* :mod:`~dcoc.accel.batched.report`: :class:`BatchReport` (full) and :class:`BatchSummary`.
"""

from dcoc.accel.batched.evaluator import BatchEvaluator, evaluate_batch
from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch
from dcoc.accel.batched.report import BatchReport, BatchSummary

__all__ = [
    "BatchEvaluator",
    "BatchReport",
    "BatchSummary",
    "HardwareBatch",
    "MappingBatch",
    "evaluate_batch",
]
