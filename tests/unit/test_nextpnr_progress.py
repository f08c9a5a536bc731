"""The live phase of a nextpnr run, read from its log (the lines are nextpnr 0.11's, as in the committed
reports/bitstream/ml100k-ecp5/nextpnr.log)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from rich.console import Console

from hybrec.bitstream.ecp5 import SeedStop
from hybrec.bitstream.nextpnr_progress import nextpnr_phase, ripup_stalled, watch_logs

LOG = [
    "Info: Packing IOs..",
    "Info: Running main analytical placer, max placement attempts per cell = 212070841.",
    "Info:     at iteration #1, type ALL: wirelen solved = 17625, spread = 1783417, legal = 1831380; time = 16.14s",
    "Info:     at iteration #4, type ALL: wirelen solved = 164614, spread = 555585, legal = 681304; time = 10.67s",
    "Info: HeAP Placer Time: 302.29s",
    "Info: Running simulated annealing placer for refinement.",
    "Info:   at iteration #5: temp = 0.000000, timing cost = 4446, wirelen = 539734",
    "Info:   at iteration #24: temp = 0.000000, timing cost = 3886, wirelen = 519614",
    "Info: Max frequency for clock '$glbnet$kclk': 68.69 MHz (FAIL at 100.00 MHz)",
    "Info: Running router2...",
    "Info:     iter=23 wires=881934 overused=94 overuse=95 archfail=NA",
    "Warning: Max frequency for clock '$glbnet$kclk': 73.62 MHz (FAIL at 100.00 MHz)",
    "Info: Program finished normally.",
]


def phase_after(n: int) -> str:
    return nextpnr_phase("\n".join(LOG[:n]))


def test_each_phase_of_a_run() -> None:
    assert phase_after(0) == "starting"
    assert phase_after(1) == "packing"
    assert phase_after(2) == "analytic placement"
    assert phase_after(4) == "analytic placement: iteration 4, legal wire length 681,304"
    assert phase_after(6) == "annealing"
    assert phase_after(8) == "annealing: iteration 24, wire length 519,614"
    # the estimate after placement follows the run into routing; the last Fmax is the post-route one
    assert phase_after(10) == "routing (68.7 MHz estimated after placement)"
    assert phase_after(11) == "routing: iteration 23, 94 overused wires (68.7 MHz estimated after placement)"
    assert phase_after(13) == "finished: 73.62 MHz post-route"


def test_a_run_without_routing_finishes_with_its_estimate() -> None:
    placed_only = [*LOG[:9], "Info: Program finished normally."]   # nextpnr --no-route
    assert nextpnr_phase("\n".join(placed_only)) == "finished: 68.69 MHz estimated after placement"


def test_static_placer_and_unknown_text() -> None:
    assert nextpnr_phase("Info: Running Static placer...\nInfo: overlap: COMB=99.5%") == "static placement"
    assert nextpnr_phase("ERROR: something nextpnr never prints\n") == "starting"


def test_watch_logs_shows_each_log(tmp_path: Path) -> None:
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    one.write_text("\n".join(LOG[:4]))
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    with watch_logs({"seed 1": one, "seed 2": two}, console, every_s=0.05):
        one.write_text("\n".join(LOG))       # finishes while watched; seed 2 never writes its log
    shown = out.getvalue()
    assert "seed 1: finished: 73.62 MHz post-route" in shown and "seed 2: starting" in shown
    with watch_logs({"seed 1": one}, None):   # no console: nothing to show, the block still runs
        pass


def test_in_a_log_a_line_only_when_a_run_enters_another_stage(tmp_path: Path) -> None:
    """Off a terminal (a log, CI) the live line would be redrawn as hundreds of lines: instead one line per
    stage a run enters, with its figures at that moment."""
    import time

    log = tmp_path / "seed1.log"
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    with watch_logs({"seed 1": log}, console, every_s=0.02):
        log.touch()   # the run has started and written nothing yet
        time.sleep(0.1)
        for line in LOG:   # appended a line at a time, as nextpnr writes its log (a rewrite could be read empty)
            with log.open("a") as handle:
                handle.write(line + "\n")
            time.sleep(0.1)
    lines = out.getvalue().splitlines()
    stages = [line.split(": ", 1)[1].split(":")[0].split(" (")[0] for line in lines]
    assert stages == ["starting", "packing", "analytic placement", "annealing", "routing", "finished"], lines
    assert lines[-1].startswith("seed 1: finished: 73.62 MHz post-route")


def ripup_log(rows: list[tuple[int, int]], start: int = 1) -> str:
    """router2's iteration lines with the timing rip-up on: (overused wires, failing arcs) per iteration."""
    return "\n".join(f"Info:     iter={start + i} wires=964338 overused={o} overuse={o} tmgfail={t} archfail=NA"
                     for i, (o, t) in enumerate(rows))


def test_a_rip_up_that_keeps_finding_new_lows_is_not_stalled() -> None:
    # the shape of the committed ML-100K run: overuse falls, the failing arcs come and go, both reach 0
    converging = [(65201, 12), (10014, 99), (3492, 30), *[(40 - i, 20 + i % 7) for i in range(39)], (1, 0)]
    assert ripup_stalled(ripup_log(converging), window=20) is None
    # a stretch without a new low shorter than the window is patience, not a stall
    assert ripup_stalled(ripup_log([(5, 3), *[(6, 9)] * 19]), window=20) is None
    assert ripup_stalled("", window=20) is None
    assert ripup_stalled("Info:     iter=23 wires=881934 overused=94 overuse=95 archfail=NA", window=1) is None


def test_a_rip_up_that_wanders_is_stalled(tmp_path: Path) -> None:
    # aimed beyond the placement's reach: overuse stays at 5-16 and the failing arcs at 45-166
    wandering = [(900, 60), (40, 3), (5, 80), *[(5 + i % 12, 45 + (37 * i) % 120) for i in range(1, 30)]]
    why = ripup_stalled(ripup_log(wandering), window=25)
    assert why is not None and "since iteration 3" in why and "overused wires (5)" in why and "(3)" in why
    assert ripup_stalled(ripup_log(wandering), window=40) is None
    # the flow's stop flag: another seed's success, or this seed's log
    log_path = tmp_path / "nextpnr_seed1.log"
    met = threading.Event()
    stop = SeedStop(met, log_path, every_s=0.0, patience=25)
    assert not stop.is_set()                       # no log yet
    log_path.write_text(ripup_log(wandering[:20]))
    assert not stop.is_set() and stop.stalled is None
    log_path.write_text(ripup_log(wandering))
    assert stop.is_set() and stop.stalled == why
    met.set()
    assert SeedStop(met, None).is_set() and not SeedStop(None, None).is_set()
