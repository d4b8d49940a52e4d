"""Generated, specialized source for :meth:`dcoc.accel.model.cached_evaluator.Evaluator.summary`.

:func:`generate_summary` writes the summary computation for one (architecture, problem,
tables, stride rule, link rule) as straight-line Python: the loops over storage levels,
problem dimensions and data spaces are unrolled, and everything that depends only on the
architecture, problem and tables is folded into literals (fanouts, projections, which data
spaces slide, block sizes, energies per action, capacities, bandwidths, area). What depends on
the loop permutation stays a small loop over the mapping's non-trivial temporal loops. The
arithmetic is the generic evaluator's, term for term and in the same order, so the result is
bit-identical. Neighbour link transfers are detected and counted by the same functions as in
the generic code (:class:`~dcoc.accel.model.closed_form.LinkDetector`).

No string from a spec enters the source: levels, dimensions and data spaces appear only as
indices (``L0``, ``x1_2``, ``# -- level 1``), and every number from the architecture, problem or
tables is written by :func:`literal`, which takes ints, floats and bools only (and tuples of
them) and raises ``TypeError`` for anything else. A level named ``"L\nimport os"`` therefore
changes nothing in the generated code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from math import prod
from typing import TYPE_CHECKING, Any

from dcoc.accel.model.closed_form import link_visits, multicast_histogram, spatial_members
from dcoc.accel.model.cost import double_sum, std_round
from dcoc.accel.model.source_literals import literal
from dcoc.accel.model.summary_constants import SummaryConstants
from dcoc.accel.report import INVALID_SUMMARY, CostSummary

if TYPE_CHECKING:
    from dcoc.accel.mapping import Mapping


def _box(proj: tuple[tuple[tuple[int, int], ...], ...], ext: list[str]) -> list[str]:
    """Per data dimension: the span expression over extent expressions ``ext``."""
    spans = []
    for terms in proj:
        # sum c * (e - 1) + 1 written as sum c * e + (1 - sum c): the same integer
        parts = [ext[d] if c == 1 else f"{literal(c)} * {ext[d]}" for d, c in terms if c]
        const = 1 - sum(c for _, c in terms)
        if parts and const:
            parts.append(literal(const))
        spans.append(" + ".join(parts).replace("+ -", "- ") if parts else "1")
    return spans


def _size(proj: tuple[tuple[tuple[int, int], ...], ...], ext: list[str]) -> str:
    factors = [s if " " not in s else f"({s})" for s in _box(proj, ext) if s != "1"]
    return " * ".join(factors) or "1"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)


def generate_summary(ev: SummaryConstants) -> str:
    """The source of ``summary(mapping) -> CostSummary`` specialized to ``ev``."""
    nl, nd, nds = ev.nl, ev.nd, ev.nds
    projs = ev.projs
    spatial_ok = [ev.fanout[li] > 1 for li in range(nl)]  # levels that may fan out
    w = _Writer()
    out = w.lines
    out.append("def summary(mapping):")
    w("levels = mapping.levels")
    w(f"if mapping.conflicts or len(levels) != {nl}:")
    w("    return INVALID")
    w(f"{', '.join(f'L{li}' for li in range(nl))}, = levels")
    w("bits = []")
    w("add = bits.append")
    w("cc = 1  # compute cycles")
    below = ["1"] * nd
    ones = literal((1,) * nd)
    for li in range(nl):
        fx, fy = ev.fanout_xy[li]
        w(f"# -- level {li}: validity, extents, loops")
        w(f"sx = L{li}.spatial_x")
        w(f"sy = L{li}.spatial_y")
        ux = " * ".join(f"sx[{d}]" for d in range(nd))
        uy = " * ".join(f"sy[{d}]" for d in range(nd))
        indent = ""
        if not spatial_ok[li]:  # all ones pass the checks below; others are checked in full
            w(f"if sx != {ones} or sy != {ones}:")
            indent = "    "

        def check(line: str, indent: str = indent) -> None:
            w(indent + line)

        check("if min(sx) < 1 or min(sy) < 1:")
        check("    return INVALID")
        check(f"ux = {ux}")
        check(f"uy = {uy}")
        fan_xy = f"ux > {literal(fx)} or uy > {literal(fy)}"
        check(f"if {fan_xy} or ux * uy > {literal(ev.fanout[li])}:")
        check("    return INVALID")
        if spatial_ok[li]:
            w(f"f{li} = ux * uy")
            for d in range(nd):
                w(f"s{li}_{d} = sx[{d}] * sy[{d}]")
            master = [
                f"s{li}_{d}" if below[d] == "1" else f"{below[d]} * s{li}_{d}" for d in range(nd)
            ]
            for d in range(nd):
                w(f"m{li}_{d} = {master[d]}")
            master = [f"m{li}_{d}" for d in range(nd)]
        else:
            master = list(below)
        w(f"t = L{li}.temporal")
        for d in range(nd):
            w(f"x{li}_{d} = {'' if master[d] == '1' else master[d] + ' * '}t[{d}]")
        w(f"ls{li} = len(bits)")
        w(f"M = ({', '.join(master)},)")
        w(f"for d in L{li}.permutation:")
        w("    n = t[d]")
        w("    if n > 1:")
        w(f"        add(({li}, d, n, M[d]))")
        w("        cc *= n")
        w("    elif n < 1:")
        w("        return INVALID")
        below = [f"x{li}_{d}" for d in range(nd)]
    bounds = " or ".join(f"x{nl - 1}_{d} != {literal(ev.bounds[d])}" for d in range(nd))
    w(f"if {bounds}:")
    w("    return INVALID")
    for ds in range(nds):
        kept = " or ".join(f"L{li}.keep[{ds}]" for li in range(nl))
        w(f"if not ({kept}):")
        w("    return INVALID")
    fan = [f"f{li}" if spatial_ok[li] else "1" for li in range(nl)]
    w("nbits = len(bits)")
    if ev.link_transfers and any(spatial_ok[1:]):
        ones = "[" + ", ".join(["1"] * nd) + "]"
        belows = [ones] + [
            f"[{', '.join(f'x{li - 1}_{d}' for d in range(nd))}]" if spatial_ok[li] else "None"
            for li in range(1, nl)
        ]
        masters = [
            f"[{', '.join(f'm{li}_{d}' for d in range(nd))}]" if spatial_ok[li] else "None"
            for li in range(nl)
        ]
        w("# (spatial level, data space) pairs where neighbour link transfers may occur")
        w(
            f"linked = may_link(levels, bits, [{', '.join(f'ls{li}' for li in range(nl))}, "
            f"nbits], [{', '.join(belows)}], [{', '.join(masters)}], [{', '.join(fan)}])"
        )
    # one pass over the loops, outer to inner: suffix[i], the product of the bounds of loop i
    # and those above it; weights[i] = (bound - 1) * suffix[i + 1]; per data space without
    # sliding windows, fs{ds}[i] = suffix[first loop at or above i that the data space's
    # projection depends on] (1 if none)
    plain = [ds for ds in range(nds) if not ev.sliding[ds]]
    w("suffix = [1] * (nbits + 1)")
    if any(ev.sliding):
        w("weights = [0] * nbits")
    for ds in plain:
        w(f"fs{ds} = [1] * (nbits + 1)")
        w(f"v{ds} = 1")
    w("acc = 1")
    w("for i in range(nbits - 1, -1, -1):")
    w("    _, d, n, _ = bits[i]")
    if any(ev.sliding):
        w("    weights[i] = (n - 1) * acc")
    w("    acc *= n")
    w("    suffix[i] = acc")
    for ds in plain:
        w(f"    if {literal(ev.relevant[ds])}[d]:")
        w(f"        v{ds} = acc")
        w(f"    fs{ds}[i] = v{ds}")
    # replication (instances of each level in use)
    rep = ["1"] * nl
    for li in range(nl - 2, -1, -1):
        if fan[li + 1] == "1":
            rep[li] = rep[li + 1]
        elif rep[li + 1] == "1":
            rep[li] = fan[li + 1]
        else:
            w(f"r{li} = {rep[li + 1]} * {fan[li + 1]}")
            rep[li] = f"r{li}"
    # sizes per data space and level
    for ds in range(nds):
        for li in range(nl):
            w(f"z{ds}_{li} = {_size(projs[ds], [f'x{li}_{d}' for d in range(nd)])}")
    track = [ev.capacity[li] is not None or any(ev.bandwidth[li]) for li in range(nl)]
    for li in range(nl):
        w(f"dyn{li} = 0.0")
        if track[li]:
            w(f"rd{li} = wr{li} = us{li} = 0")
        if ev.clusters[li] is not None:
            w(f"cu{li} = {rep[li]} / min({rep[li]}, {literal(ev.clusters[li])})")
    for ds in range(nds):
        _data_space(w, ev, ds, spatial_ok, fan, rep, track)
    # capacity, cycles, energy
    w("# -- capacity, cycles, energy")
    w("valid = True")
    w("cycles = cc")
    for li in range(nl):
        cap = ev.capacity[li]
        if cap is not None:
            w(f"if us{li} > {literal(cap)}:")
            w("    valid = False")
        rbw, wbw, sbw = ev.bandwidth[li]
        if not (rbw or wbw or sbw):
            continue
        w("slowdown = 1.0")
        if rbw:
            w(f"if rd{li}:")
            w(f"    slowdown = min(slowdown, {literal(rbw)} * cc / rd{li})")
        if wbw:
            w(f"if wr{li}:")
            w(f"    slowdown = min(slowdown, {literal(wbw)} * cc / wr{li})")
        if sbw:
            w(f"if rd{li} + wr{li}:")
            w(f"    slowdown = min(slowdown, {literal(sbw)} * cc / (rd{li} + wr{li}))")
        w("if slowdown < 1.0:")
        w("    cycles = max(cycles, ceil(cc / slowdown))")
    w("energy = 0.0")
    for li in range(nl):
        w(f"energy += dyn{li} + {literal(ev.e_leak[li])} * cycles * max(1, {rep[li]})")
    computes = prod(ev.bounds)
    w(f"energy = {literal(computes * ev.e_mac)} + energy")
    w(
        f"return CostSummary(valid, cycles, energy, {literal(ev.area)}, "
        f"{literal(computes)} / ({literal(ev.mac_instances)} * cycles))"
    )
    return "\n".join(out) + "\n"


def _data_space(
    w: _Writer,
    ev: SummaryConstants,
    ds: int,
    spatial_ok: list[bool],
    fan: list[str],
    rep: list[str],
    track: list[bool],
) -> None:
    nl, nd = ev.nl, ev.nd
    proj = ev.projs[ds]
    rel = ev.relevant[ds]
    sliding = ev.sliding[ds]
    w(f"# -- data space {ds}" + (", sliding" if sliding else ""))
    for li in range(nl):
        w(f"k{li} = L{li}.keep[{ds}]")
    # bases: accesses per level before the spatial fanout
    base = ["cc"] + [f"b{li}" for li in range(1, nl)]
    if sliding:
        w("refs = {}")
        w("keys = []")
        w("running = 0")
        w("for _, d, _, st in bits:")
        w(f"    v = {literal(ev.kappa[ds])}[d] * st")
        w("    keys.append(v - running)")
        w("    running += v")
        for li in range(1, nl):
            # Evaluator._reference: the first moving loop from start on, the weights of the
            # loops repeating its translation and of the zero translations
            w(f"start = ls{li}")
            w("if start in refs:")
            w("    found = refs[start]")
            w("else:")
            w("    found = None")
            w("    if start < nbits:")
            kappa = literal(ev.kappa[ds])
            w(f"        offset = keys[start] - {kappa}[bits[start][1]] * bits[start][3]")
            if ev.legacy:
                w("        ref = start")
            else:
                w("        for ref in range(start, nbits):")
                w("            if keys[ref] != offset:")
                w("                break")
                w("        else:")
                w("            ref = nbits")
            w("        if ref < nbits:")
            w("            ref_key = keys[ref]")
            w("            matched = zero = 0")
            w("            for i in range(start, nbits):")
            w("                k = keys[i]")
            w("                if k == ref_key:")
            w("                    matched += weights[i]")
            w("                elif k == offset:")
            w("                    zero += weights[i]")
            w("            found = (bits[ref][1], bits[ref][3], matched, zero)")
            w("    refs[start] = found")
            w("if found is None:")
            w(f"    b{li} = z{ds}_{li - 1}")
            w("else:")
            w("    d, step, matched, zero = found")
            spans = _box(proj, [f"x{li - 1}_{d}" for d in range(nd)])
            w(f"    spans = [{', '.join(spans)}]")
            w(f"    for k, c in {literal(ev.touch[ds])}[d]:")
            w("        spans[k] = max(0, spans[k] - c * step)")
            w("    inter = prod(spans)")
            if ev.legacy:
                w(f"    b{li} = z{ds}_{li - 1} * suffix[start] - inter * matched")
            else:
                w(f"    b{li} = z{ds}_{li - 1} * (suffix[start] - zero) - inter * matched")
    else:
        for li in range(1, nl):
            w(f"b{li} = z{ds}_{li - 1} * fs{ds}[ls{li}]")
    # multicast: a{li} accesses, g{li} multicast factor, mu{li} list of (m, a) or None;
    # lw{li}: words that level li's children take from their neighbours (links)
    mult = ["1"] * nl
    multi = [False] * nl
    links = [
        ev.link_transfers and li > 0 and spatial_ok[li] and sliding and ds in ev.links.windowed
        for li in range(nl)
    ]
    for li in range(nl):
        if not spatial_ok[li]:
            w(f"a{li} = {base[li]}")
            continue
        if sliding:
            multi[li] = True
            mult[li] = f"g{li}"
            below = [f"x{li - 1}_{d}" if li else "1" for d in range(nd)]
            w(f"mu{li} = None")
            w(f"if f{li} > 1:")
            if links[li]:
                w(f"    lw{li} = 0")
                w(f"    if ({li}, {ds}) in linked:  # closed_form.link_accesses")
                w(f"        above = [(b[1], b[2], b[3]) for b in bits[ls{li}:]]")
                w(
                    f"        total, visits = link_visits(PROJS[{ds}], ({', '.join(below)},), "
                    f"above, {literal(ev.legacy)})"
                )
                w(f"        members = spatial_members(L{li}, [{', '.join(below)}])")
                w(f"        entries, lw{li} = link_accesses({ds}, {li}, members, total, visits)")
                w(f"        mu{li} = list(entries)")
                w(f"        g{li} = 1")
                w(f"        a{li} = sum(a for _, a in entries)")
                w("    else:")
                w.depth += 1
            w(
                f"    key = ({ds}, ({', '.join(f's{li}_{d}' for d in range(nd))},), "
                f"({', '.join(below)},))"
            )
            w("    hist = hist_cache.get(key)")
            w("    if hist is None:")
            members = ", ".join(f"({d}, s{li}_{d}, {below[d]})" for d in range(nd))
            w(f"        members = tuple(m for m in ({members},) if m[1] > 1)")
            w(f"        hist = hist_cache[key] = multicast_histogram(PROJS[{ds}], members)")
            w("    if len(hist) == 1:")
            w(f"        g{li} = hist[0][0]")
            w(f"        a{li} = {base[li]} * hist[0][1]")
            w("    else:")
            w(f"        g{li} = 1")
            w(f"        mu{li} = [(m, {base[li]} * g) for m, g in hist]")
            w(f"        a{li} = sum(a for _, a in mu{li})")
            if links[li]:
                w.depth -= 1
            w("else:")
            w(f"    g{li} = 1")
            w(f"    a{li} = {base[li]}")
            if links[li]:
                w(f"    lw{li} = 0")
        else:
            groups = [f"s{li}_{d}" for d in range(nd) if rel[d]]
            members_ = [f"s{li}_{d}" for d in range(nd) if not rel[d]]
            mult[li] = f"g{li}"
            w(f"g{li} = {' * '.join(members_) or '1'}")
            w(f"a{li} = {base[li]} * {' * '.join(groups) or '1'}")
    # parent access shares (before masking)
    for li in range(nl - 1):
        o = li + 1
        w(f"if k{li}:")
        if multi[o]:
            w(f"    if mu{o} is not None:")
            w(f"        p{li} = sum(a * m // {fan[o]} for m, a in mu{o})")
            w("    else:")
            w(f"        p{li} = a{o} * {mult[o]} // {fan[o]}")
        elif spatial_ok[o]:
            w(f"    p{li} = a{o} * {mult[o]} // {fan[o]}")
        else:
            w(f"    p{li} = a{o}")
    for li in range(nl):
        w(f"c{li} = a{li}")
    # MaskTiles
    for cur in range(nl - 1):
        o = cur + 1
        w(f"if not k{cur}:")
        if multi[o]:
            w(f"    if mu{o} is not None:")
            w(f"        weighted = sum(a * m for m, a in mu{o})")
            w("        if weighted:")
            if links[o]:
                w(f"            lw{o} = 0")
            w(f"            factor = float(c{cur} * {fan[o]}) / float(weighted)")
            # doubles, rounded in the final counts (cost.py docstring)
            scaled = "(m, float(a) * factor) if a else (m, a)"
            w(f"            mu{o} = [{scaled} for m, a in mu{o}]")
            w(f"        c{o} = double_sum(a for _, a in mu{o})")
            w("    else:")
            ind = "        "
        else:
            ind = "    "
        w(f"{ind}a = a{o}")
        w(f"{ind}if a:")
        if spatial_ok[o]:
            w(f"{ind}    factor = float(c{cur} * {fan[o]}) / float(a * {mult[o]})")
        else:
            w(f"{ind}    factor = float(c{cur}) / float(a)")
        w(f"{ind}    a = a{o} = float(a) * factor")
        w(f"{ind}c{o} = a")
    # outermost level keeping this data space
    chain = str(0)
    for li in range(1, nl):
        chain = f"{li} if k{li} else ({chain})" if li > 1 else f"{li} if k{li} else 0"
    w(f"om = {chain}")
    read_write = ev.read_write[ds]
    w(f"p = z{ds}_{nl - 1}")
    for li in range(nl - 1, -1, -1):
        if li < nl - 1 and spatial_ok[li + 1]:
            msize = _size(proj, [f"m{li + 1}_{d}" for d in range(nd)])
            w(f"if f{li + 1} > 1:")
            w(f"    p = p * z{ds}_{li} // ({msize})")
        w(f"if k{li}:")
        if li == nl - 1:
            w("    f = 0")
        elif read_write:
            w(f"    f = 0 if om == {li} else p{li} - p")
        else:
            w(f"    f = 0 if om == {li} else p{li}")
        q = ""
        if li < nl - 1 and links[li + 1]:  # ComputePeerAccesses: extra reads and fills
            w(f"    q = lw{li + 1} // {rep[li]} if lw{li + 1} and {li + 1} <= om else 0")
            w("    f += q")
            q = " + q"
        # a float c{li} was scaled by MaskTiles: std::round of the final counts (cost.py)
        if read_write and li:
            w(f"    if type(c{li}) is float:")
            w(f"        r = std_round(c{li}{q} - p)")
            w(f"        u = std_round(c{li})")
            w("    else:")
            w(f"        r = c{li}{q} - p")
            w(f"        u = c{li}")
        elif read_write:
            w(f"    r = c{li}{q} - p")
            w(f"    u = c{li}")
        elif li:
            w(f"    r = std_round(c{li}{q}) if type(c{li}) is float else c{li}{q}")
        else:
            w(f"    r = c{li}{q}")
        names = ("r", "f", "u") if read_write else ("r", "f", "0")
        if track[li]:
            w(f"    rd{li} += r")
            w(f"    wr{li} += f + u" if read_write else f"    wr{li} += f")
            w(f"    us{li} += z{ds}_{li}")
        # block-rounded actions times energies; a zero energy adds a zero (of either sign)
        # to a sum that is only ever added to the level's non-negative-zero-started total,
        # so its term is left out; ceil(x / 1) * e == x * e in floating point
        b = ev.block[li]
        terms = []
        energies = (ev.e_read[li], ev.e_fill[li], ev.e_update[li])
        for var, e in zip(names, energies, strict=True):
            if (e == 0.0 and math.copysign(1.0, e) > 0) or (var == "0" and math.isfinite(e)):
                continue
            terms.append(
                f"{var} * {literal(e)}" if b == 1 else f"ceil({var} / {literal(b)}) * {literal(e)}"
            )
        if not terms:
            continue
        per_instance = " + ".join(terms)
        if ev.clusters[li] is not None:
            per_instance = f"({per_instance}) / cu{li}"
        elif len(terms) > 1:
            per_instance = f"({per_instance})"
        if rep[li] != "1":
            per_instance = f"{per_instance} * {rep[li]}"
        w(f"    if {' or '.join(n for n in names if n != '0')}:")
        w(f"        dyn{li} += {per_instance}")


def compile_summary(ev: SummaryConstants) -> tuple[str, Callable[[Mapping], CostSummary]]:
    """(source, function) of the specialized summary for ``ev``."""

    source = generate_summary(ev)
    namespace: dict[str, Any] = {
        "INVALID": INVALID_SUMMARY,
        "CostSummary": CostSummary,
        "ceil": math.ceil,
        "double_sum": double_sum,
        "std_round": std_round,
        "prod": prod,
        "may_link": ev.links.may_link,
        "link_accesses": ev.links.accesses,
        "link_visits": link_visits,
        "spatial_members": spatial_members,
        "hist_cache": ev.hist_cache,
        "multicast_histogram": multicast_histogram,
        "PROJS": ev.projs,
    }
    code = compile(source, f"<dcoc generated summary {id(ev):x}>", "exec")
    exec(code, namespace)
    return source, namespace["summary"]
