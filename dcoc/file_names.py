"""Names from inputs (an experiment, a workload, a suite, a layer) made into one file-name
component: whatever the name holds (separators, ``..``, newlines, 5000 characters), the file
or directory it names stays inside the directory it is joined to."""

from __future__ import annotations

import hashlib
import re

MAX_COMPONENT = 100
"""Characters of a component; longer names are cut and told apart by a hash of the whole."""


def file_name_component(name: str, keep: str = "A-Za-z0-9._-", fallback: str = "_") -> str:
    """``name`` with each run of characters outside ``keep`` (a regex character-class body)
    replaced by ``_``, edge underscores and leading dots removed (no ``.``, ``..`` or hidden
    file), cut to :data:`MAX_COMPONENT` characters; ``fallback`` if nothing is left."""
    safe = re.sub(f"[^{keep}]+", "_", name).lstrip("._").rstrip("_") or fallback
    if len(safe) > MAX_COMPONENT:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe = f"{safe[: MAX_COMPONENT - 13]}-{digest}"
    return safe
