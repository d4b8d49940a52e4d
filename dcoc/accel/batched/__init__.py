"""The batched model: thousands of mappings (and hardware configurations) in one numpy pass.

Every element equals :func:`dcoc.accel.model.evaluate` for that mapping, bit for bit.

* :mod:`~dcoc.accel.batched.inputs`: the batch as arrays (:class:`MappingBatch`,
  :class:`HardwareBatch`);
* :mod:`~dcoc.accel.batched.evaluator`: :class:`BatchEvaluator` and :func:`evaluate_batch`;
* the closed form vectorized: :mod:`~dcoc.accel.batched.sliding` (sliding-window accesses),
  :mod:`~dcoc.accel.batched.histogram` (multicast histograms),
  :mod:`~dcoc.accel.batched.links` (neighbour link transfers),
  :mod:`~dcoc.accel.batched.cost` (the cost arithmetic), :mod:`~dcoc.accel.batched.vec`
  (slot vectors);
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
