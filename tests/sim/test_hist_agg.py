"""hw/hist_agg under cocotb + Verilator, bit-exact against numerics.aggregate_history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rtl_support import run_block, verilog_string

from hybrec.compile.blocks import HistAgg

pytestmark = [pytest.mark.sim]

CASES = [
    # widths, LMAX, shift and normaliser folding differ per case; N_ITEMS < 2^ID_BITS leaves room for bad ids
    pytest.param(dict(N_ITEMS=40, F=4, FEAT_BITS=8, ID_BITS=6, LMAX=8, AGG_SHIFT=16, NORM_PAR=4),
                 id="f4-b8-lmax8-par4"),
    # a coarse shift: R[n] * n exceeds 2^AGG_SHIFT for some n, so means of extreme rows saturate
    pytest.param(dict(N_ITEMS=200, F=6, FEAT_BITS=5, ID_BITS=9, LMAX=13, AGG_SHIFT=5, NORM_PAR=2),
                 id="f6-b5-lmax13-shift5-par2-saturating"),
    pytest.param(dict(N_ITEMS=1682, F=64, FEAT_BITS=8, ID_BITS=11, LMAX=64, AGG_SHIFT=16, NORM_PAR=16),
                 id="ml100k-f64-lmax64-par16"),
    # two ids per beat (the kernel's input): odd packets end on a half-empty beat; LMAX odd and even
    # ... and the feature ROM in column groups (their own files and address registers)
    # ... and a load-bus base other than 0 (group g is memory LD_BASE + g)
    pytest.param(dict(N_ITEMS=40, F=4, FEAT_BITS=8, ID_BITS=6, LMAX=8, AGG_SHIFT=16, NORM_PAR=4, IPB=2,
                      ROM_GROUPS=2, LD_BASE=5), id="f4-lmax8-ipb2-groups2-base5"),
    pytest.param(dict(N_ITEMS=200, F=6, FEAT_BITS=5, ID_BITS=9, LMAX=13, AGG_SHIFT=5, NORM_PAR=2, IPB=2,
                      ROM_GROUPS=3), id="f6-lmax13-saturating-ipb2-groups3"),
    pytest.param(dict(N_ITEMS=1682, F=96, FEAT_BITS=8, ID_BITS=11, LMAX=64, AGG_SHIFT=16, NORM_PAR=8, IPB=2,
                      ROM_GROUPS=8), id="ml100k-f96-lmax64-par8-ipb2-groups8"),
]


def write_roms(params: dict[str, int], folder: Path, seed: int) -> dict[str, object]:
    """Random signed features (rows 0/1 all-max/all-min, for saturation), their memory lines (one file per
    group, loaded through the load bus by the testbench) and the reciprocal table."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (params["FEAT_BITS"] - 1)), (1 << (params["FEAT_BITS"] - 1)) - 1
    features = rng.integers(lo, hi + 1, size=(params["N_ITEMS"], params["F"]), dtype=np.int64)
    features[0, :] = hi
    features[1, :] = lo
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "features.npy", features)
    block = HistAgg(n_items=params["N_ITEMS"], feature_dim=params["F"], feature_bits=params["FEAT_BITS"],
                    lmax=params["LMAX"], agg_shift=params["AGG_SHIFT"], norm_par=params["NORM_PAR"],
                    rom_groups=params.get("ROM_GROUPS", 1), ids_per_beat=params.get("IPB", 1))
    files = block.write_memory(folder, features)   # the compiler's writer: features_<gg>.hex and recip.hex
    return {"features": folder / "features.npy", "feature_hex": [str(f) for f in files[:-1]],
            "recip_hex": folder / "recip.hex"}


@pytest.mark.parametrize("params", CASES)
def test_hist_agg(params: dict[str, int], tmp_path: Path, runtime_cache: Path) -> None:
    files = write_roms(params, tmp_path / "roms", seed=params["F"] * 1000 + params["LMAX"])
    other = write_roms(params, tmp_path / "roms2", seed=params["F"] * 1000 + params["LMAX"] + 1)
    run_block(
        block="hist_agg",
        build_dir=tmp_path / "build",
        runtime_cache=runtime_cache,
        parameters={**params, "RECIP_FILE": verilog_string(files["recip_hex"])},
        config={"params": params, "features": files["features"], "feature_hex": files["feature_hex"],
                "features2": other["features"], "feature_hex2": other["feature_hex"], "seed": 7, "packets": 200},
    )
