"""Where a placed-and-routed design misses its clock: every register endpoint's slack from nextpnr's SDF.

nextpnr prints one critical path per clock and a slack histogram; neither says which blocks the thousands of
failing endpoints belong to. Its ``--sdf`` file holds the whole post-route timing graph: the delay of every
cell arc (combinational and clock-to-output), the setup time of every register input and the routed delay
of every net to every sink. :func:`analyse_sdf` runs a static timing analysis over it (worst case: the max
of rise and fall, max corner; one clock; clock skew ignored) and groups the failing endpoints by the
design hierarchy of their cells, so a report can say "MVAU 0's dot products: 1,200 endpoints, worst
-3.1 ns, from its input register".

The numbers are nextpnr's own delays; only the grouping and the summing are done here.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DELAY = re.compile(r"\(([-\d.]*):([-\d.]*):([-\d.]*)\)")
_UNESCAPE = re.compile(r"\\(.)")


def _unescape(name: str) -> str:
    return _UNESCAPE.sub(r"\1", name)


def _max_delay(text: str) -> float:
    """The largest max value of the SDF (min:typ:max) triples in ``text``, in ns (nextpnr writes ps)."""
    values = [float(t[2]) for t in _DELAY.findall(text) if t[2]]
    return max(values) / 1000.0 if values else 0.0


@dataclass
class TimingGraph:
    iopath: dict[tuple[str, str], list[tuple[str, float]]]   # (cell, out port) -> [(in port, delay)]
    launch: dict[tuple[str, str], float]                      # (cell, out port) -> clock-to-output
    setup: dict[tuple[str, str], float]                       # (cell, in port) -> setup time
    driver: dict[tuple[str, str], tuple[str, str, float]]     # (cell, in port) -> (cell, out port, net delay)
    celltype: dict[str, str]


def _split_port(ref: str) -> tuple[str, str]:
    ref = _unescape(ref)
    cell, _, port = ref.rpartition("/")
    return cell, port


_LINE = re.compile(r"\s*\((CELLTYPE|INSTANCE|INTERCONNECT|IOPATH|SETUPHOLD)\s*(.*)\)\s*$")
_EDGE = re.compile(r"\((?:posedge|negedge) (\S+)\)")


def parse_sdf(lines: Any) -> TimingGraph:
    """The timing graph of a nextpnr SDF file, given its lines (nextpnr writes one statement per line)."""
    iopath: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    launch: dict[tuple[str, str], float] = {}
    setup: dict[tuple[str, str], float] = {}
    driver: dict[tuple[str, str], tuple[str, str, float]] = {}
    celltype: dict[str, str] = {}
    clock_ports: dict[str, set[str]] = defaultdict(set)
    pending: list[tuple[str, str, str, float]] = []            # (cell, from, to, delay): sorted out below
    cell, ctype = "", ""
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            continue
        key, rest = m.groups()
        if key == "CELLTYPE":
            ctype = rest.strip().strip('"')
        elif key == "INSTANCE":
            cell = _unescape(rest.strip())
            if cell:
                celltype[cell] = ctype
        elif key in ("INTERCONNECT", "IOPATH"):
            fields = rest.split(None, 2)
            dly = _max_delay(fields[2])
            if key == "INTERCONNECT":
                src, dst = _split_port(fields[0]), _split_port(fields[1])
                driver[dst] = (src[0], src[1], dly)
            else:
                pending.append((cell, _unescape(fields[0]), _unescape(fields[1]), dly))
        else:                                                   # SETUPHOLD (edge D) (edge CLK) (setup) (hold)
            ports = _EDGE.findall(rest)
            triples = _DELAY.findall(rest)
            if len(ports) == 2 and triples:
                data, clk = _unescape(ports[0]), _unescape(ports[1])
                su = float(triples[0][2]) / 1000.0 if triples[0][2] else 0.0
                setup[(cell, data)] = max(setup.get((cell, data), 0.0), su)
                clock_ports[cell].add(clk)
    for c, frm, to, dly in pending:
        if frm in clock_ports[c] or frm.startswith("CLK"):
            launch[(c, to)] = max(launch.get((c, to), 0.0), dly)
        else:
            iopath[(c, to)].append((frm, dly))
    return TimingGraph(dict(iopath), launch, setup, driver, celltype)


def _arrivals(g: TimingGraph) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], tuple[str, str] | None]]:
    """Latest arrival at every cell output reached from a register, and the input that set it."""
    arrival: dict[tuple[str, str], float] = {}
    via: dict[tuple[str, str], tuple[str, str] | None] = {}
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def out_arrival(node: tuple[str, str]) -> float:
        if node in arrival:
            return arrival[node]
        arrival[node] = float("-inf")                       # breaks combinational loops (none expected)
        best, best_in = g.launch.get(node, float("-inf")), None
        for port, dly in g.iopath.get(node, []):
            a = in_arrival((node[0], port))
            if a + dly > best:
                best, best_in = a + dly, (node[0], port)
        arrival[node], via[node] = best, best_in
        return best

    def in_arrival(pin: tuple[str, str]) -> float:
        drv = g.driver.get(pin)
        if drv is None:
            return float("-inf")
        return out_arrival((drv[0], drv[1])) + drv[2]

    for node in list(g.iopath) + list(g.launch):
        out_arrival(node)
    return arrival, via


def group_of(cell: str, depth: int) -> str:
    """The first ``depth`` levels of a flattened cell name (generate-block indices folded: g_pe[3] -> g_pe[*])."""
    parts = [re.sub(r"\[\d+\]", "[*]", p) for p in cell.split(".")[:-1]]
    return ".".join(parts[:depth]) or "(top)"


def leading_groups(groups: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The group holding the worst slack (it sets the Fmax), then the others by failing count, ``n`` in all:
    a few badly placed endpoints can be the design's worst path and still rank low by count."""
    if not groups or n <= 0:
        return []
    worst = min(groups, key=lambda x: x["worst_slack_ns"])
    rest = sorted((x for x in groups if x is not worst), key=lambda x: (-x["failing"], x["worst_slack_ns"]))
    return [worst, *rest][:n]


# slack margins of the near-critical counts: the endpoints that would fail with the period this much shorter
NEAR_MARGINS_NS = (0.5, 1.0, 2.0)


def near_critical(slacks: list[tuple[float, str, str]], depth: int, top: int = 8) -> list[dict[str, Any]]:
    """Per margin in NEAR_MARGINS_NS, the endpoints whose slack is below it and the ``top`` groups holding most
    of them: how much of the design sits just behind the failing paths (one Fmax says nothing of that)."""
    out = []
    for margin in NEAR_MARGINS_NS:
        counts: dict[str, int] = defaultdict(int)
        for slack, cell, _ in slacks:
            if slack >= margin:
                break
            counts[group_of(cell, depth)] += 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        out.append({"margin_ns": margin, "endpoints": sum(counts.values()), "groups": dict(ranked)})
    return out


def analyse_sdf(sdf: Path, period_ns: float, depth: int = 3, top: int = 25) -> dict[str, Any]:
    """Slack of every register input against ``period_ns``; the failing ones grouped by hierarchy, and how
    many more are within NEAR_MARGINS_NS of failing."""
    with open(sdf, errors="replace") as fh:
        g = parse_sdf(fh)
    arrival, via = _arrivals(g)
    slacks: list[tuple[float, str, str]] = []
    for (cell, port), su in g.setup.items():
        drv = g.driver.get((cell, port))
        if drv is None:
            continue
        a = arrival.get((drv[0], drv[1]), float("-inf")) + drv[2]
        if a == float("-inf"):
            continue
        slacks.append((period_ns - su - a, cell, port))
    slacks.sort()
    groups: dict[str, dict[str, Any]] = {}
    for slack, cell, port in slacks:
        if slack >= 0:
            break
        key = group_of(cell, depth)
        grp = groups.setdefault(key, {"group": key, "failing": 0, "worst_slack_ns": round(slack, 3),
                                      "worst_endpoint": f"{cell}/{port}",
                                      "worst_path": _path(g, via, cell, port)})
        grp["failing"] += 1
    worst = min((s for s, _, _ in slacks), default=0.0)
    return {
        "period_ns": period_ns, "endpoints": len(slacks), "failing": sum(1 for s, _, _ in slacks if s < 0),
        "worst_slack_ns": round(worst, 3), "fmax_mhz": round(1000.0 / (period_ns - worst), 2) if slacks else None,
        "groups": leading_groups(list(groups.values()), top),   # the first also leads the manifest's by_block
        "near_critical": near_critical(slacks, depth),
        "method": "static timing over nextpnr's post-route SDF (max delays, one clock, no clock skew)",
    }


def _path(g: TimingGraph, via: dict, cell: str, port: str, limit: int = 40) -> list[dict[str, Any]]:
    """The worst path into an endpoint, startpoint first: (cell, type, pin, arrival)."""
    hops: list[dict[str, Any]] = []
    pin: tuple[str, str] | None = (cell, port)
    while pin is not None and len(hops) < limit:
        drv = g.driver.get(pin)
        if drv is None:
            break
        node = (drv[0], drv[1])
        hops.append({"cell": drv[0], "type": g.celltype.get(drv[0], "?"), "pin": drv[1], "net_ns": round(drv[2], 3)})
        pin = via.get(node)
    hops.reverse()
    return hops
