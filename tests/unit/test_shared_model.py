"""The stream widths the kernel model library is compiled for come from the kernel's own ports, and must agree
with what the manifest says."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrec.builddir import BuildDir, Manifest
from hybrec.simulate.shared_model import SharedModelError, stream_interface

pytestmark = [pytest.mark.unit]

TOP = """module hybrec_kernel #(parameter MEM_DIR = "./") (
    input  wire        ap_clk,
    input  wire [{hi}:0] s_axis_tdata,
{keep}    input  wire        s_axis_tlast,
    output wire [63:0] m_axis_tdata,
    output wire        m_axis_tlast
);
endmodule
"""


def build(tmp_path: Path, in_bits: int, keep: bool, interface: dict | None = None,
          sources: tuple[str, ...] = ("rtl/hybrec_kernel.v",)) -> BuildDir:
    (tmp_path / "rtl").mkdir(exist_ok=True)
    keep_line = f"    input  wire [{in_bits // 8 - 1}:0]  s_axis_tkeep,\n" if keep else ""
    (tmp_path / "rtl" / "hybrec_kernel.v").write_text(TOP.format(hi=in_bits - 1, keep=keep_line))
    kernel = {"top": "hybrec_kernel", "sources": list(sources), "memory_files": [], "parameters": {},
              "interface": interface or {}}
    source = {k: "" for k in ("run_dir", "variant", "checkpoint", "checkpoint_sha256", "config_sha256")}
    raw = {"format": "hybrec-build/2", "build_id": "test", "inputs": {}, "source": {**source, "seed": 0},
           "kernel": kernel, "vectors": {"file": "vectors/golden.npz"}, "files": {}}
    return BuildDir(tmp_path, Manifest.from_json(raw))


@pytest.mark.parametrize(("in_bits", "keep", "interface"), [
    (16, False, None), (16, False, {"s_axis_tdata": 16, "m_axis_tdata": 64}),
    (32, True, {"in_bits": 32, "out_bits": 64, "ids_per_beat": 2}),
])
def test_widths_from_the_ports(tmp_path: Path, in_bits: int, keep: bool, interface: dict | None) -> None:
    assert stream_interface(build(tmp_path, in_bits, keep, interface)) == {"in_bits": in_bits, "out_bits": 64,
                                                                         "tkeep": keep}


def test_a_manifest_that_disagrees_with_the_ports(tmp_path: Path) -> None:
    with pytest.raises(SharedModelError, match=r"in_bits = 16, the kernel's hybrec_kernel\.v has 32"):
        stream_interface(build(tmp_path, 32, True, {"in_bits": 16}))
    with pytest.raises(SharedModelError, match="not among the build's sources"):
        stream_interface(build(tmp_path, 32, False, sources=()))
