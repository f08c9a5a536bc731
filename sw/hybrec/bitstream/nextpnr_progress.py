"""Where a running nextpnr is, read from its ``--log`` file: one live line per seed for ``hybrec bitstream``.

nextpnr writes its log as it goes (``-q`` only silences the terminal), so the phase, the iteration and the
figures it prints (wire length, overused wires, the estimate after placement) tell how far a 20-minute
place-and-route has got. :func:`nextpnr_phase` reads one log's text; :func:`watch_logs` shows a rich progress
line per log while the runs go on.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_HEAP_ITER = re.compile(r"at iteration #(\d+), type ALL: .*legal = (\d+)")
_SA_ITER = re.compile(r"at iteration #(\d+): temp = [\d.]+, timing cost = \d+, wirelen = (\d+)")
_ROUTE_ITER = re.compile(r"iter=(\d+) wires=\d+ overused=(\d+)")
# router2's line per iteration with the timing-driven rip-up on (overused wires, arcs failing its own analysis)
_RIPUP_ITER = re.compile(r"iter=(\d+) wires=\d+ overused=(\d+) overuse=\d+ tmgfail=(\d+)")
# nextpnr's timing lines, "Max frequency for clock '<name>': <MHz> MHz (...)": group 1 the clock, 2 the MHz
FMAX_LINE = re.compile(r"Max frequency for clock '([^']*)': ([\d.]+) MHz")


def nextpnr_phase(text: str) -> str:
    """The phase a nextpnr log's text has reached, e.g. ``routing: iteration 23, 94 overused wires (68.7 MHz
    estimated after placement)`` or ``finished: 73.62 MHz post-route`` (``finished: 77.5 MHz estimated after
    placement`` for a run without routing); ``starting`` for an empty log."""
    phase = "starting"
    estimate = last_fmax = ""
    routed = False
    for line in text.splitlines():
        if "Packing" in line and phase == "starting":
            phase = "packing"
        elif "Running main analytical placer" in line:
            phase = "analytic placement"
        elif "Running Static placer" in line:
            phase = "static placement"
        elif "Running simulated annealing placer" in line:
            phase = "annealing"
        elif "Running router" in line:
            phase = "routing"
            routed = True
        elif "Program finished normally" in line:
            phase = "finished"
        elif match := _HEAP_ITER.search(line):
            phase = f"analytic placement: iteration {match[1]}, legal wire length {int(match[2]):,}"
        elif match := _SA_ITER.search(line):
            phase = f"annealing: iteration {match[1]}, wire length {int(match[2]):,}"
        elif match := _ROUTE_ITER.search(line):
            phase = f"routing: iteration {match[1]}, {int(match[2]):,} overused wires"
        elif match := FMAX_LINE.search(line):
            last_fmax = match[2]
            if phase.startswith("annealing") and not estimate:
                estimate = f"{float(match[2]):.1f} MHz estimated after placement"
    if phase == "finished" and last_fmax:
        return f"finished: {last_fmax} MHz {'post-route' if routed else 'estimated after placement'}"
    if estimate and phase.startswith("routing"):
        return f"{phase} ({estimate})"
    return phase


def ripup_stalled(text: str, window: int) -> str | None:
    """Why router2's timing-driven rip-up, as far as a nextpnr log's text shows it, has stalled, or None.

    With ``--tmg-ripup`` router2 goes on until no wire is overused and no arc fails its own timing analysis, or
    until its 1,500th iteration. A run that converges keeps lowering the fewest overused wires or the fewest
    failing arcs it has reached (the ML-100K kernel: both at 0 after 74-118 iterations, with stretches of up
    to ~20 iterations without a new low); one aimed at a clock its placement cannot reach wanders (5-16 overused
    wires and 45-166 failing arcs from its 97th iteration to its 167th, aimed at 103 MHz). Stalled: neither
    low improved in the last ``window`` iterations."""
    lows: tuple[int, int] | None = None   # the fewest overused wires and failing arcs so far
    last_new = current = 0
    for match in _RIPUP_ITER.finditer(text):
        current, overused, failing = int(match[1]), int(match[2]), int(match[3])
        if lows is None or overused < lows[0] or failing < lows[1]:
            last_new = current
            lows = (overused, failing) if lows is None else (min(overused, lows[0]), min(failing, lows[1]))
    if lows is None or current - last_new < window:
        return None
    return (f"router2's timing rip-up stalled: no new low of overused wires ({lows[0]}) or of arcs failing its "
            f"timing ({lows[1]}) since iteration {last_new}, {current - last_new} iterations ago")


def _stage(phase: str) -> str:
    """The phase without its figures (``routing: iteration 23, ...`` -> ``routing``)."""
    return phase.split(":")[0].split(" (")[0]


@contextmanager
def watch_logs(logs: dict[str, Path], console: Any = None, every_s: float = 2.0) -> Iterator[None]:
    """While the block runs, one rich progress line per ``label: log file`` with :func:`nextpnr_phase` of
    that log (polled every ``every_s`` seconds). On a console that is not a terminal (a log file, CI) a line
    is printed only when a run enters another stage (packing, placement, annealing, routing, finished).
    Without a console nothing is shown."""
    if console is None:
        yield
        return
    if not getattr(console, "is_terminal", True):
        with _stage_lines(logs, console, every_s):
            yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                        transient=False)
    tasks = {label: progress.add_task(f"{label}: starting", total=None) for label in logs}
    stop = threading.Event()

    def refresh() -> None:
        for label, path in logs.items():
            text = path.read_text(errors="replace") if path.is_file() else ""
            progress.update(tasks[label], description=f"{label}: {nextpnr_phase(text)}")

    def poll() -> None:
        while not stop.wait(every_s):
            refresh()

    thread = threading.Thread(target=poll, name="nextpnr-progress", daemon=True)
    with progress:
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            refresh()


@contextmanager
def _stage_lines(logs: dict[str, Path], console: Any, every_s: float) -> Iterator[None]:
    stages = {label: "" for label in logs}
    stop = threading.Event()
    started = time.monotonic()

    def check() -> None:
        for label, path in logs.items():
            phase = nextpnr_phase(path.read_text(errors="replace") if path.is_file() else "")
            if _stage(phase) != stages[label]:
                stages[label] = _stage(phase)
                console.print(f"{label}: {phase} ({time.monotonic() - started:.0f} s)")

    def poll() -> None:
        while not stop.wait(every_s):
            check()

    thread = threading.Thread(target=poll, name="nextpnr-stages", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        check()
