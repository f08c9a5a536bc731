"""hw/topk under cocotb + Verilator, bit-exact against numerics.topk."""

from __future__ import annotations

from pathlib import Path

import pytest
from rtl_support import run_block

pytestmark = [pytest.mark.sim]

CASES = [
    pytest.param(dict(LANES=4, K=5, ID_BITS=8, SCORE_BITS=12, MERGE_SPLIT=0), id="lanes4-k5-merge1"),
    pytest.param(dict(LANES=3, K=1, ID_BITS=6, SCORE_BITS=5, MERGE_SPLIT=0), id="lanes3-k1-narrow"),
    pytest.param(dict(LANES=1, K=4, ID_BITS=5, SCORE_BITS=8, MERGE_SPLIT=1), id="lanes1-k4"),
    pytest.param(dict(LANES=8, K=10, ID_BITS=11, SCORE_BITS=20, MERGE_SPLIT=1), id="ml100k-lanes8-k10"),
    # the merge starts late enough that its first pop follows the last cell's hand-over (WAVE_D > 3)
    pytest.param(dict(LANES=2, K=10, ID_BITS=11, SCORE_BITS=20, MERGE_SPLIT=1), id="ecp5-lanes2-k10"),
    pytest.param(dict(LANES=1, K=8, ID_BITS=5, SCORE_BITS=6, MERGE_SPLIT=0), id="lanes1-k8-merge1"),
]


@pytest.mark.parametrize("params", CASES)
def test_topk(params: dict[str, int], tmp_path: Path, runtime_cache: Path) -> None:
    run_block(
        block="topk",
        build_dir=tmp_path / "build",
        runtime_cache=runtime_cache,
        parameters=params,
        config={"params": params, "seed": 5, "queries": 80},
    )
