"""The generated kernel synthesizes with Yosys (synth_ecp5, synth_xilinx) — on a tiny configuration, so
that it runs in CI; the ML-100K kernel's counts come from `make fit` (docs/kernel.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrec import tools
from hybrec.bitstream.yosys import synthesize
from tiny_kernel import make_tiny_build

pytestmark = [pytest.mark.synth]


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not tools.available(tools.YOSYS):
        pytest.skip(str(tools.ToolMissing(tools.YOSYS)))
    return make_tiny_build(tmp_path_factory.mktemp("tiny-kernel") / "build")


@pytest.mark.parametrize("target", ["ecp5-85k", "xc7z020"])
def test_tiny_kernel_synthesizes(tiny_build: Path, target: str) -> None:
    build = tiny_build
    report = synthesize(build, target, log=lambda _: None)
    assert report["fits"]
    usage = report["usage"]
    luts = usage["LUT4" if target == "ecp5-85k" else "LUT"]["used"]
    flops = usage["FF"]["used"]
    assert 100 < luts < 20000 and 100 < flops < 20000  # a real netlist, not an empty (optimised-away) one
    assert (build / "fit" / f"{target}.json").is_file()
    # hybrec compile's fit check counts block RAM and multipliers exactly as Yosys maps them
    estimate = report["estimate"]["usage"]
    exact = [name for name, use in estimate.items() if use["exact"]]
    assert len(exact) == 2 and all(estimate[name]["estimate"] == usage[name]["used"] for name in exact)
