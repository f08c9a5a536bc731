"""The generated kernel synthesizes with Yosys (synth_ecp5, synth_xilinx) — on a tiny configuration, so
that it runs in CI; the ML-100K kernel's counts come from `make fit` (README)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybrec.bitstream.yosys import ToolMissing, synthesize, yosys_command
from tiny_kernel import make_tiny_build

pytestmark = [pytest.mark.synth]


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    try:
        yosys_command()
    except ToolMissing as err:
        pytest.skip(str(err))
    build = make_tiny_build(tmp_path_factory.mktemp("tiny-kernel") / "build")
    sources = json.loads((build / "manifest.json").read_text())["kernel"]["sources"]
    return build, [Path(s).name for s in sources]


@pytest.mark.parametrize("target", ["ecp5-85k", "xc7z020"])
def test_tiny_kernel_synthesizes(tiny_build: tuple[Path, list[str]], target: str) -> None:
    build, sources = tiny_build
    report = synthesize(build, target, "hybrec_kernel", sources)
    assert report["fits"]
    usage = report["usage"]
    luts = usage["LUT4" if target == "ecp5-85k" else "LUT"]["used"]
    flops = usage["FF"]["used"]
    assert 100 < luts < 20000 and 100 < flops < 20000  # a real netlist, not an empty (optimised-away) one
    assert (build / "fit" / f"{target}.json").is_file()
