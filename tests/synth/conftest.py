"""What the netlist-pass tests share: Yosys on a script in a folder."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hybrec.bitstream.yosys import ToolMissing, yosys_command


@pytest.fixture(scope="session")
def yosys() -> Callable[[str, Path], str]:
    """``run(script, cwd)``: Yosys on ``script`` in ``cwd`` (its log returned; a failure fails the test, a
    missing Yosys skips it)."""
    try:
        cmd = yosys_command()
    except ToolMissing as err:
        pytest.skip(str(err))

    def run(script: str, cwd: Path) -> str:
        (cwd / "run.ys").write_text(script)
        proc = subprocess.run([*cmd, "-q", "-l", "run.log", "run.ys"], cwd=cwd, capture_output=True, text=True)
        log = (cwd / "run.log").read_text() if (cwd / "run.log").is_file() else ""
        assert proc.returncode == 0, log[-3000:] + proc.stderr[-2000:]
        return log

    return run
