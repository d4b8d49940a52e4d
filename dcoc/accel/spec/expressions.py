"""A restricted evaluator for timeloopfe's expression strings (``width: datawidth * 3``).

timeloopfe evaluates these strings with Python's ``eval`` (accelergy's
``parse_expression_for_arithmetic``); dcoc never does. :func:`evaluate_expression` parses the
string with ``ast.parse(..., mode="eval")`` and walks an allow-list of node kinds:

* constants (numbers, strings, ``True``/``False``/``None``), lists and tuples;
* arithmetic, comparisons (including ``in``), ``and``/``or``/``not``, ``x if c else y``;
* names from the scope the caller gives (variables, sibling attributes, ``spec``), and the
  functions and constants of accelergy's ``MATH_FUNCS`` that take and give plain values
  (:data:`FUNCTIONS`; not ``getcwd``, ``map`` or ``enumerate``);
* attribute access and subscripts on spec data only (mappings, lists, tuples, strings), never
  on a name starting with ``_``.

Anything else (lambdas, comprehensions, f-strings, keyword or star arguments, calls of anything
not in :data:`FUNCTIONS`, attribute access on functions or numbers) is refused with
:class:`ExpressionRefused`. Sizes are bounded: integers to :data:`MAX_INT_BITS` bits (``9**9**9``
is refused before it is computed), sequences to :data:`MAX_SEQUENCE` items, the expression to
:data:`MAX_EXPRESSION_CHARS` characters.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_EXPRESSION_CHARS = 10_000
MAX_INT_BITS = 100_000
MAX_SEQUENCE = 1_000_000
MAX_FACTORIAL = 10_000


class ExpressionRefused(ValueError):
    """The expression uses something the evaluator does not allow, or is too large."""


class ExpressionFailed(ValueError):
    """The expression is allowed but does not evaluate (unknown name, division by zero...)."""


class UnknownName(ExpressionFailed):
    def __init__(self, name: str) -> None:
        super().__init__(f"name {name!r} is not defined")
        self.name = name


def _bounded_int(value: Any) -> Any:
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (value.bit_length() > MAX_INT_BITS)
    ):
        raise ExpressionRefused(f"an integer of more than {MAX_INT_BITS} bits")
    if isinstance(value, str | list | tuple) and len(value) > MAX_SEQUENCE:
        raise ExpressionRefused(f"a sequence of more than {MAX_SEQUENCE} items")
    return value


def _pow(base: Any, exponent: Any) -> Any:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > MAX_INT_BITS
    ):
        raise ExpressionRefused(f"{base}**{exponent} has more than {MAX_INT_BITS} bits")
    return base**exponent


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(b, int) and b > MAX_INT_BITS:
        raise ExpressionRefused(f"a shift by more than {MAX_INT_BITS} bits")
    return a << b


def _mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        if (
            isinstance(seq, str | list | tuple)
            and isinstance(n, int)
            and len(seq) * max(n, 0) > MAX_SEQUENCE
        ):
            raise ExpressionRefused(f"a sequence of more than {MAX_SEQUENCE} items")
    return a * b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        raise ExpressionRefused("string formatting with %")
    return a % b


def _range(*args: Any) -> range:
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise ExpressionRefused(f"a range of more than {MAX_SEQUENCE} items")
    return r


def _factorial(n: Any) -> int:
    if isinstance(n, int) and n > MAX_FACTORIAL:
        raise ExpressionRefused(f"factorial of more than {MAX_FACTORIAL}")
    return math.factorial(n)


def _comb_perm(f: Callable[..., int]) -> Callable[..., int]:
    def bounded(n: Any, *k: Any) -> int:
        if isinstance(n, int) and n > MAX_FACTORIAL:
            raise ExpressionRefused(f"{f.__name__} of more than {MAX_FACTORIAL}")
        return f(n, *k)

    return bounded


def _sum(values: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float) or isinstance(start, bool):
        raise ExpressionRefused("sum() starts from a number only")
    return _sequence(sum)(values, start)


def _prod(values: Any, start: Any = 1) -> Any:
    result = start
    for v in values:
        result = _bounded_int(_mul(result, v))
    return result


def _str(value: Any) -> str:
    if not isinstance(value, int | float | str | bool | None):
        raise ExpressionRefused(f"str() of a {type(value).__name__}; only of plain values")
    return str(_bounded_int(value))


def _sequence(f: Callable[[Any], Any]) -> Callable[..., Any]:
    def bounded(*args: Any) -> Any:
        if args and isinstance(args[0], range) and len(args[0]) > MAX_SEQUENCE:
            raise ExpressionRefused(f"a range of more than {MAX_SEQUENCE} items")
        return f(*args)

    return bounded


FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{
        name: getattr(math, name)
        for name in (
            "ceil",
            "copysign",
            "fabs",
            "floor",
            "fmod",
            "frexp",
            "fsum",
            "gcd",
            "isclose",
            "isfinite",
            "isinf",
            "isnan",
            "isqrt",
            "ldexp",
            "modf",
            "remainder",
            "trunc",
            "exp",
            "expm1",
            "log",
            "log1p",
            "log2",
            "log10",
            "sqrt",
            "acos",
            "asin",
            "atan",
            "atan2",
            "cos",
            "dist",
            "hypot",
            "sin",
            "tan",
            "degrees",
            "radians",
            "acosh",
            "asinh",
            "atanh",
            "cosh",
            "sinh",
            "tanh",
            "erf",
            "erfc",
            "gamma",
            "lgamma",
        )
    },
    "factorial": _factorial,
    "comb": _comb_perm(math.comb),
    "perm": _comb_perm(math.perm),
    "pow": _pow,
    "abs": abs,
    "round": round,
    "sum": _sum,
    "prod": _prod,
    "range": _range,
    "len": len,
    "min": _sequence(min),
    "max": _sequence(max),
    "float": float,
    "int": int,
    "str": _str,
    "bool": bool,
    "list": _sequence(list),
    "tuple": _sequence(tuple),
}
"""accelergy's ``MATH_FUNCS`` less ``getcwd`` (it would disclose the working directory),
``map`` and ``enumerate`` (they take functions or give iterators); ``pow`` is Python's
(accelergy's dictionary lists ``math.pow`` and then overwrites it with the builtin)."""

CONSTANTS: dict[str, float] = {
    "pi": math.pi,
    "e": math.e,
    "tau": math.tau,
    "inf": math.inf,
    "nan": math.nan,
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
    ast.LShift: _lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_DATA = (Mapping, list, tuple, str, range)


def parse_expression(text: str) -> ast.Expression:
    """The syntax tree of ``text``; :class:`SyntaxError` if it is not a Python expression."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionRefused(f"an expression of more than {MAX_EXPRESSION_CHARS} characters")
    try:
        return ast.parse(text.strip(), mode="eval")
    except (RecursionError, MemoryError):
        raise ExpressionRefused("an expression nested too deeply") from None


def evaluate_expression(text: str, scope: Mapping[str, Any]) -> Any:
    """The value of ``text`` with names looked up in ``scope``, then the functions and constants
    above. :class:`SyntaxError` if it is not an expression, :class:`ExpressionRefused` if it
    uses anything outside the allow-list, :class:`ExpressionFailed` if it does not evaluate."""
    tree = parse_expression(text)
    try:
        return _Evaluator(scope).visit(tree.body)
    except (ExpressionRefused, ExpressionFailed):
        raise
    except RecursionError:
        raise ExpressionRefused("an expression nested too deeply") from None
    except (ArithmeticError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise ExpressionFailed(f"{type(exc).__name__}: {exc}") from None


class _Evaluator:
    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.scope = scope

    def visit(self, node: ast.expr) -> Any:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise ExpressionRefused(f"{type(node).__name__} is not allowed in an expression")
        return _bounded_int(method(node))

    def _Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bytes | complex) or node.value is Ellipsis:
            raise ExpressionRefused(f"the constant {node.value!r} is not allowed")
        return node.value

    def _Name(self, node: ast.Name) -> Any:
        name = node.id
        if name.startswith("_"):
            raise ExpressionRefused(f"the name {name!r} (names starting with _ are refused)")
        if name in self.scope:
            return self.scope[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise ExpressionRefused(f"the function {name!r} can only be called")
        raise UnknownName(name)

    def _List(self, node: ast.List) -> list[Any]:
        return [self.visit(e) for e in node.elts]

    def _Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self.visit(e) for e in node.elts)

    def _BinOp(self, node: ast.BinOp) -> Any:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExpressionRefused(f"the operator {type(node.op).__name__} is not allowed")
        return op(self.visit(node.left), self.visit(node.right))

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](self.visit(node.operand))

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for e in node.values:
            value = self.visit(e)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            f = _COMPARE.get(type(op))
            if f is None:
                raise ExpressionRefused(f"the comparison {type(op).__name__} is not allowed")
            right = self.visit(comparator)
            if not f(left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def _Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionRefused(
                f"calling {what!r}; only these functions are allowed: {', '.join(FUNCTIONS)}"
            )
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionRefused("keyword and star arguments are not allowed")
        return FUNCTIONS[node.func.id](*(self.visit(a) for a in node.args))

    def _Attribute(self, node: ast.Attribute) -> Any:
        if node.attr.startswith("_"):
            raise ExpressionRefused(f"the attribute {node.attr!r} (names starting with _)")
        value = self.visit(node.value)
        if not isinstance(value, Mapping):
            raise ExpressionRefused(
                f"attribute access .{node.attr} on a {type(value).__name__}; attributes are "
                "only the keys of spec mappings"
            )
        if node.attr not in value:
            raise ExpressionFailed(f"no key {node.attr!r} (keys: {', '.join(map(str, value))})")
        return value[node.attr]

    def _Subscript(self, node: ast.Subscript) -> Any:
        value = self.visit(node.value)
        if not isinstance(value, _DATA):
            raise ExpressionRefused(f"subscript of a {type(value).__name__}")
        if isinstance(node.slice, ast.Slice):
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            index: Any = slice(*(None if p is None else self.visit(p) for p in parts))
        else:
            index = self.visit(node.slice)
        if isinstance(index, str) and index.startswith("_"):
            raise ExpressionRefused(f"the key {index!r} (names starting with _)")
        return value[index]
