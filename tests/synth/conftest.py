"""What the netlist-pass tests share: Yosys on a script in a folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hybrec import tools


@pytest.fixture(scope="session")
def yosys() -> Callable[[str, Path], str]:
    """``run(script, cwd)``: Yosys on ``script`` in ``cwd`` (its log returned; a failure fails the test, a
    missing Yosys skips it)."""
    if not tools.available(tools.YOSYS):
        pytest.skip(str(tools.ToolMissing(tools.YOSYS)))

    def run(script: str, cwd: Path) -> str:
        (cwd / "run.ys").write_text(script)
        tools.run(tools.YOSYS, ["-q", "-l", "run.log", "run.ys"], cwd=cwd, log_path=cwd / "yosys.stdout.log")
        return (cwd / "run.log").read_text()

    return run
