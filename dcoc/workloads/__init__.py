"""Workloads: layers as Timeloop problems, the operators behind them, bundled layer sets.

- :mod:`~dcoc.workloads.problem`: ``Problem`` (Timeloop problem shape and bounds).
- :mod:`~dcoc.workloads.shapes`: the shapes (CNN_Layer, depthwise, grouped, GEMM, batched).
- :mod:`~dcoc.workloads.op_spec`: ``Conv2dSpec`` / ``MatmulSpec``, what a compiler builds.
- :mod:`~dcoc.workloads.layers`: ``conv2d(...)``, ``matmul(...)``, ... -> Problem.
- :mod:`~dcoc.workloads.network`: ``Layer``, ``Network`` and the layer-set file format.
- :mod:`~dcoc.workloads.catalog`: ``resolve_workload``, ``load_network``, ``list_workloads``.
"""

from dcoc.workloads.catalog import list_networks, list_workloads, load_network, resolve_workload
from dcoc.workloads.layers import batch_matmul, conv2d, depthwise_conv2d, grouped_conv2d, matmul
from dcoc.workloads.network import Layer, Network
from dcoc.workloads.op_spec import Conv2dSpec, MatmulSpec, OpKind, OpSpec, spec_from_problem
from dcoc.workloads.problem import DataSpace, Problem, ProjectionTerm

__all__ = [
    "Conv2dSpec",
    "DataSpace",
    "Layer",
    "MatmulSpec",
    "Network",
    "OpKind",
    "OpSpec",
    "Problem",
    "ProjectionTerm",
    "batch_matmul",
    "conv2d",
    "depthwise_conv2d",
    "grouped_conv2d",
    "list_networks",
    "list_workloads",
    "load_network",
    "matmul",
    "resolve_workload",
    "spec_from_problem",
]
