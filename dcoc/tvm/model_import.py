"""Import the conv and matmul layers of a PyTorch model as a :class:`Network`, through TVM.

``from_torch(model, example_inputs)``:

1. ``torch.export.export`` traces the model (static shapes from ``example_inputs``);
2. ``tvm.relax.frontend.torch.from_exported_program`` turns it into a Relax module
   (parameters kept as function inputs, then detached: no weights are copied);
3. every ``relax.nn.conv2d`` and ``relax.matmul`` call is recognised *from the Relax operator
   and its attributes* (strides, padding, dilation, groups, layouts) and the static shapes of
   its operands, giving a :class:`~dcoc.workloads.op_spec.Conv2dSpec` or
   :class:`~dcoc.workloads.op_spec.MatmulSpec`;
4. ``LegalizeOps`` lowers each call to its own PrimFunc and MetaSchedule's ``extract_tasks``
   deduplicates the PrimFuncs into tuning tasks. A task is matched to a spec by structural
   equality with the task extracted from a program holding that one call (MetaSchedule's own
   deduplication equality; no lowered-function names are relied upon). A layer's ``count`` is
   its task's ``weight`` (the number of call sites), summed over tasks with the same spec, and
   checked against the number of recognised calls.

Why the Relax attributes and not the TIR: after lowering, a grouped convolution reads
``data[n, ff // 16 * 8 + rc, ...]`` from a padded copy, the padding lives in a separate block
and block names vary between TVM versions; the operator attributes state all of it exactly.
Tasks are extracted before operator fusion so that each task holds one operator: the fused
epilogues (bias, ReLU) are irrelevant to the accelerator problem and would split one conv
shape into several tasks.

``linear`` layers arrive as ``permute_dims(weight)`` (+ ``broadcast_to`` the activation's
batch axes, which is seen through) + ``matmul``; they are plain matmuls with the batch and
sequence axes folded into ``M`` (the weights are shared). A ``matmul`` with batch axes on both
operands (``bmm``, attention) is a batch matmul. Other operators (pooling,
elementwise, ``nn.attention``, conv1d/3d, transposed conv) are not imported; the log says so.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
import tvm
import tvm_ffi
from tvm import relax
from tvm.relax.frontend import detach_params
from tvm.relax.frontend.torch import from_exported_program
from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

from dcoc.workloads.layers import conv2d_spec
from dcoc.workloads.network import Layer, Network
from dcoc.workloads.op_spec import MatmulSpec, OpSpec

logger = logging.getLogger(__name__)

_CONV2D = "relax.nn.conv2d"
_MATMUL = "relax.matmul"
_BROADCAST_TO = "relax.broadcast_to"
_IGNORED_MAC_OPS = (
    "relax.nn.conv1d",
    "relax.nn.conv3d",
    "relax.nn.conv2d_transpose",
    "relax.nn.conv1d_transpose",
    "relax.nn.attention",
    "relax.nn.attention_bias",
)


class ModelImportError(ValueError):
    """The model cannot be imported (dynamic shapes, an unsupported layout, ...)."""


@dataclass(frozen=True)
class ImportedTask:
    """One MetaSchedule task of the imported model: its name, weight and operator."""

    task_name: str
    weight: int
    spec: OpSpec


def _static_shape(expr: relax.Expr, what: str) -> tuple[int, ...]:
    ty = expr.ty  # relax TensorType in TVM 0.27 (struct info merged into types)
    shape = getattr(ty, "shape", None)
    if shape is None:
        raise ModelImportError(f"{what}: unknown shape; export the model with static shapes")
    dims = []
    for dim in shape.values:
        if not isinstance(dim, tvm.tirx.IntImm):
            raise ModelImportError(
                f"{what}: dynamic dimension {dim} in shape {list(shape.values)}; "
                "export the model with static shapes"
            )
        dims.append(int(dim.value))
    return tuple(dims)


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def _conv2d_spec(call: relax.Call, where: str) -> OpSpec:
    attrs = call.attrs
    layouts = (str(attrs.data_layout), str(attrs.kernel_layout), str(attrs.out_layout))
    if layouts != ("NCHW", "OIHW", "NCHW"):
        raise ModelImportError(f"{where}: conv2d layouts {layouts}; only NCHW/OIHW/NCHW")
    n, c, h, w = _static_shape(call.args[0], f"{where} data")
    k, _, kh, kw = _static_shape(call.args[1], f"{where} weight")
    strides, dilation = _ints(attrs.strides), _ints(attrs.dilation)
    padding = _ints(attrs.padding)  # top, left, bottom, right
    return conv2d_spec(
        batch=n,
        in_channels=c,
        out_channels=k,
        in_height=h,
        in_width=w,
        kernel=(kh, kw),
        stride=(strides[0], strides[1]),
        padding=(padding[0], padding[1], padding[2], padding[3]),
        dilation=(dilation[0], dilation[1]),
        groups=int(attrs.groups),
    )


def _before_broadcast(expr: relax.Expr, bound: dict[str, relax.Expr]) -> relax.Expr:
    """The tensor a chain of ``broadcast_to`` bindings started from (the torch frontend
    broadcasts a linear layer's weight to the activation's batch axes)."""
    while isinstance(expr, tvm.ir.Var) and expr.name in bound:
        value = bound[expr.name]
        if not (isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op)):
            break
        if str(value.op.name) != _BROADCAST_TO:
            break
        expr = value.args[0]
    return expr


def _matmul_spec(call: relax.Call, where: str, bound: dict[str, relax.Expr]) -> OpSpec:
    a = _static_shape(_before_broadcast(call.args[0], bound), f"{where} lhs")
    b = _static_shape(_before_broadcast(call.args[1], bound), f"{where} rhs")
    if len(a) == 1:
        a = (1, *a)
    if len(b) == 1:
        b = (*b, 1)
    (m, k), (k_b, n) = a[-2:], b[-2:]
    if k != k_b:
        raise ModelImportError(f"{where}: matmul reduction sizes differ ({k} vs {k_b})")
    a_batch, b_batch = prod(a[:-2]), prod(b[:-2])
    if b_batch == 1:
        # Shared right operand (a linear layer): batch and sequence axes are rows.
        return MatmulSpec(m=a_batch * m, n=n, k=k)
    batch_axes = torch.broadcast_shapes(torch.Size(a[:-2]), torch.Size(b[:-2]))
    return MatmulSpec(m=m, n=n, k=k, batch=prod(batch_axes))


def _recognise_calls(mod: tvm.IRModule) -> list[tuple[relax.Call, OpSpec]]:
    """Every conv2d/matmul call of ``main`` in program order, with its op spec."""
    found: list[tuple[relax.Call, OpSpec]] = []
    bound: dict[str, relax.Expr] = {}
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            call = binding.value
            bound[binding.var.name] = call
            if not isinstance(call, relax.Call) or not isinstance(call.op, tvm.ir.Op):
                continue
            op_name = str(call.op.name)
            where = f"binding {binding.var.name} ({op_name})"
            if op_name == _CONV2D:
                found.append((call, _conv2d_spec(call, where)))
            elif op_name == _MATMUL:
                found.append((call, _matmul_spec(call, where, bound)))
            elif op_name in _IGNORED_MAC_OPS:
                logger.warning("%s is not imported (only conv2d and matmul are)", where)
    return found


def _single_op_task_module(call: relax.Call, target: tvm.target.Target) -> tvm.IRModule:
    """The task module MetaSchedule extracts from a program holding ``call`` alone."""
    builder = relax.BlockBuilder()
    params = [relax.Var(f"arg{i}", arg.ty) for i, arg in enumerate(call.args)]
    with builder.function("main", params):
        with builder.dataflow():
            out = builder.emit_output(relax.Call(call.op, params, call.attrs))
        builder.emit_func_output(out)
    (task,) = extract_tasks(relax.transform.LegalizeOps()(builder.get()), target)
    return task.mod


def _import(
    model: torch.nn.Module, example_inputs: Sequence[torch.Tensor], target: Any
) -> tuple[list[OpSpec], list[ImportedTask]]:
    """The recognised specs in program order (with repeats) and the tasks that run them.

    A task is matched to a spec by structural equality of its module with the task a program
    holding only that operator gives (the equality MetaSchedule itself deduplicates tasks by),
    so no name of a lowered function is relied upon.
    """
    exported = torch.export.export(model.eval(), tuple(example_inputs))
    mod = from_exported_program(exported, keep_params_as_input=True)
    mod, _ = detach_params(mod)
    calls = _recognise_calls(mod)
    tvm_target = tvm.target.Target(target if target is not None else {"kind": "llvm"})
    reference: dict[OpSpec, tvm.IRModule] = {}
    for call, spec in calls:
        if spec not in reference:
            reference[spec] = _single_op_task_module(call, tvm_target)
    lowered = tvm.transform.Sequential(
        [relax.transform.DecomposeOpsForInference(), relax.transform.LegalizeOps()]
    )(mod)
    tasks = []
    for task in extract_tasks(lowered, tvm_target):
        for spec, module in reference.items():
            if tvm_ffi.structural_equal(task.mod, module):
                tasks.append(ImportedTask(str(task.task_name), int(task.weight), spec))
                break
    found = Counter(spec for _, spec in calls)
    counted: Counter[OpSpec] = Counter()
    for imported in tasks:
        counted[imported.spec] += imported.weight
    if counted != found:
        raise ModelImportError(
            f"task weights {dict(counted)} do not match the recognised calls {dict(found)}"
        )
    return [spec for _, spec in calls], tasks


def extract_model_tasks(
    model: torch.nn.Module, example_inputs: Sequence[torch.Tensor], target: Any = None
) -> list[ImportedTask]:
    """The conv2d/matmul MetaSchedule tasks of ``model`` with their weights (see module doc).

    ``target`` is anything ``tvm.target.Target`` accepts (default: ``{"kind": "llvm"}``).
    """
    return _import(model, example_inputs, target)[1]


def from_torch(
    model: torch.nn.Module,
    example_inputs: Sequence[torch.Tensor],
    name: str = "model",
    target: Any = None,
) -> Network:
    """The conv2d and matmul layers of ``model`` as a :class:`Network`: one layer per distinct
    operator, named ``<kind>_<i>`` in order of first use, with ``count`` = the summed weights
    of the MetaSchedule tasks that run it."""
    in_order, tasks = _import(model, example_inputs, target)
    counts: Counter[OpSpec] = Counter()
    for task in tasks:
        counts[task.spec] += task.weight
    per_kind: Counter[str] = Counter()
    layers = []
    for spec in dict.fromkeys(in_order):
        kind = str(spec.kind)
        layers.append(Layer(name=f"{kind}_{per_kind[kind]}", spec=spec, count=counts[spec]))
        per_kind[kind] += 1
    shapes = [tuple(t.shape) for t in example_inputs]
    return Network(
        name=name,
        layers=tuple(layers),
        source=f"torch.export of {type(model).__name__} with inputs {shapes}, "
        "imported through TVM Relax and MetaSchedule task extraction",
    )
