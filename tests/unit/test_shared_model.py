"""The stream widths the kernel model library is compiled for come from the kernel's own ports, and must agree
with what the manifest says."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def build(tmp_path: Path, in_bits: int, keep: bool, interface: dict | None = None) -> tuple[Path, dict]:
    (tmp_path / "rtl").mkdir(exist_ok=True)
    keep_line = f"    input  wire [{in_bits // 8 - 1}:0]  s_axis_tkeep,\n" if keep else ""
    (tmp_path / "rtl" / "hybrec_kernel.v").write_text(TOP.format(hi=in_bits - 1, keep=keep_line))
    kernel = {"top": "hybrec_kernel", "sources": ["rtl/hybrec_kernel.v"]}
    if interface is not None:
        kernel["interface"] = interface
    return tmp_path, {"kernel": kernel}


@pytest.mark.parametrize(("in_bits", "keep", "interface"), [
    (16, False, None), (16, False, {"s_axis_tdata": 16, "m_axis_tdata": 64}),
    (32, True, {"in_bits": 32, "out_bits": 64, "ids_per_beat": 2}),
])
def test_widths_from_the_ports(tmp_path: Path, in_bits: int, keep: bool, interface: dict | None) -> None:
    folder, manifest = build(tmp_path, in_bits, keep, interface)
    assert stream_interface(folder, manifest) == {"in_bits": in_bits, "out_bits": 64, "tkeep": keep}


def test_a_manifest_that_disagrees_with_the_ports(tmp_path: Path) -> None:
    folder, manifest = build(tmp_path, 32, True, {"in_bits": 16})
    with pytest.raises(SharedModelError, match=r"in_bits = 16, the kernel's hybrec_kernel\.v has 32"):
        stream_interface(folder, manifest)
    folder, manifest = build(tmp_path, 32, False)
    manifest["kernel"]["sources"] = []
    with pytest.raises(SharedModelError, match="not among the build's sources"):
        stream_interface(folder, manifest)
