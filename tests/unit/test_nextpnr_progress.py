"""The live phase of a nextpnr run, read from its log (the lines are nextpnr 0.11's, as in the committed
reports/bitstream/ml100k-ecp5/nextpnr.log)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from hybrec.bitstream.nextpnr_progress import nextpnr_phase, watch_logs

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
