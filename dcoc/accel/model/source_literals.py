"""Numbers as Python source: the only way a value enters generated code.

:func:`literal` writes ints, floats (non-finite ones too), bools, None and tuples of these, and
raises ``TypeError`` for anything else, a ``str`` above all: a name from a spec file can never
become code (``SECURITY.md``).
"""

from __future__ import annotations

import math

_NON_FINITE = {math.inf: "float('inf')", -math.inf: "float('-inf')"}


def literal(value: object) -> str:
    """Python source that evaluates to exactly ``value``: an int, a float (``float('inf')``
    etc. when not finite), a bool, None, or a tuple of these. Anything else, a ``str`` above all,
    raises ``TypeError``: only numbers checked here enter generated source."""
    if value is None or type(value) is bool:
        return repr(value)
    if type(value) is int:
        return repr(value)
    if type(value) is float:
        if math.isfinite(value):
            return repr(value)
        return "float('nan')" if math.isnan(value) else _NON_FINITE[value]
    if type(value) is tuple:
        items = [literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    raise TypeError(
        f"generated source takes ints, floats, bools and tuples of them, got {type(value).__name__}"
    )
