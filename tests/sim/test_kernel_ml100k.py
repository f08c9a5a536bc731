"""The ML-100K kernel (configs/ml100k.yaml + configs/kernel-ml100k.yaml) through the C++ Verilator harness:
its model image loaded, then every user (with the user's exclusion list) and every corner case, random
backpressure, bit-exact against the golden model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rtl_support import require_verilator

from hybrec.simulate.harness import run_harness

pytestmark = [pytest.mark.sim]


def test_ml100k_kernel_every_user(ml100k_build: Path) -> None:
    require_verilator()
    manifest = json.loads((ml100k_build / "manifest.json").read_text())
    assert manifest["model"]["export_checks"]["topk_mismatches_vs_brevitas"] == 0
    report = run_harness(ml100k_build, source_pause=0.3, sink_pause=0.3, seed=2)
    assert report["passed"] and report["mismatches"] == 0
    assert report["users"] == 943 and report["answered"] == report["queries"] == 1 + 943 + 8   # the load first
