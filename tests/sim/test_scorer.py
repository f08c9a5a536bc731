"""hw/scorer under cocotb + Verilator, bit-exact against numerics.item_scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rtl_support import run_block

from hybrec.compile.blocks import Scorer

pytestmark = [pytest.mark.sim]

CASES = [
    # (HDL parameters, item value range or None for the full IBITS range)
    pytest.param(dict(N_ITEMS=50, D=8, UBITS=8, IBITS=8, USER_SIGNED=1, LANES=4, ID_BITS=6, SCORE_BITS=20,
                      ADDS_PER_STAGE=2, BIT_PLANES=0), None, id="d8-u8-i8-lanes4-padded-multipliers"),
    pytest.param(dict(N_ITEMS=31, D=5, UBITS=4, IBITS=3, USER_SIGNED=0, LANES=3, ID_BITS=5, SCORE_BITS=11,
                      ADDS_PER_STAGE=1, BIT_PLANES=1), (-1, 1), id="d5-u4unsigned-i3-lanes3-ties"),
    pytest.param(dict(N_ITEMS=7, D=1, UBITS=3, IBITS=2, USER_SIGNED=1, LANES=1, ID_BITS=3, SCORE_BITS=5,
                      ADDS_PER_STAGE=2, BIT_PLANES=1), None, id="d1-lanes1"),
    pytest.param(dict(N_ITEMS=1682, D=64, UBITS=4, IBITS=8, USER_SIGNED=1, LANES=8, ID_BITS=11, SCORE_BITS=20,
                      ADDS_PER_STAGE=2, BIT_PLANES=1), None, id="ml100k-d64-u4-lanes8"),
    # mixed lanes: two with multipliers (DSP blocks), three with bit planes, the same latency
    pytest.param(dict(N_ITEMS=83, D=16, UBITS=8, IBITS=8, USER_SIGNED=1, LANES=5, ID_BITS=7, SCORE_BITS=22,
                      ADDS_PER_STAGE=2, BIT_PLANES=1, MUL_LANES=2), None, id="d16-u8-i8-lanes5-two-multiplier-lanes"),
    # the item ROM as column groups with their own row addresses: 126-bit groups across lane boundaries
    # (the last one 4 bits), and groups that split no item value
    pytest.param(dict(N_ITEMS=45, D=16, UBITS=8, IBITS=8, USER_SIGNED=1, LANES=2, ID_BITS=6, SCORE_BITS=22,
                      ADDS_PER_STAGE=2, BIT_PLANES=1, MUL_LANES=2, ROM_GROUP_BITS=126), None,
                 id="lanes2-multipliers-rom-groups126"),
    # the ECP5 kernel's scorer: item ROM groups, multiplier lanes, one more register behind the ROM read
    pytest.param(dict(N_ITEMS=45, D=16, UBITS=8, IBITS=8, USER_SIGNED=1, LANES=2, ID_BITS=6, SCORE_BITS=22,
                      ADDS_PER_STAGE=1, BIT_PLANES=1, MUL_LANES=2, ROM_GROUP_BITS=126, ROM_OUT_REG=1), None,
                 id="lanes2-multipliers-rom-groups126-rom-out-reg"),
    pytest.param(dict(N_ITEMS=31, D=5, UBITS=4, IBITS=3, USER_SIGNED=0, LANES=3, ID_BITS=5, SCORE_BITS=11,
                      ADDS_PER_STAGE=1, BIT_PLANES=1, ROM_GROUP_BITS=3, LD_BASE=9), (-1, 1),
                 id="lanes3-rom-groups-per-value-base9"),
]


def write_items(params: dict[str, int], value_range: tuple[int, int] | None, folder: Path,
                seed: int) -> tuple[Path, list[str]]:
    """Random items (row 0 all-max, row 1 all-min, a few duplicated rows for equal scores).

    Memory row r holds items r*LANES .. r*LANES+LANES-1 (item l of the row at lane l, zero past N_ITEMS),
    cut into ROM_GROUP_BITS-bit column groups, one file each (``items_<gg>.hex``, the compiler's writer:
    the lines the testbench writes through the load bus); returns the .npy and the files.
    """
    rng = np.random.default_rng(seed)
    n, d, lanes, bits = params["N_ITEMS"], params["D"], params["LANES"], params["IBITS"]
    lo, hi = value_range or (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    items = rng.integers(lo, hi + 1, size=(n, d), dtype=np.int64)
    if n > 2:
        items[0, :], items[1, :] = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    if n > 6:
        items[n - 3:] = items[2:5]
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "items.npy", items)
    block = Scorer(n_items=n, out_dim=d, user_bits=params["UBITS"], user_signed=bool(params["USER_SIGNED"]),
                   item_bits=bits, lanes=lanes, rom_group_bits=params.get("ROM_GROUP_BITS", 0))
    files = block.write_memory(folder, items)
    return folder / "items.npy", [str(f) for f in files]


@pytest.mark.parametrize(("params", "value_range"), CASES)
def test_scorer(params: dict[str, int], value_range: tuple[int, int] | None, tmp_path: Path,
                runtime_cache: Path) -> None:
    items_npy, item_hex = write_items(params, value_range, tmp_path / "roms", seed=params["N_ITEMS"])
    items2_npy, item_hex2 = write_items(params, value_range, tmp_path / "roms2", seed=params["N_ITEMS"] + 1)
    run_block(
        block="scorer",
        build_dir=tmp_path / "build",
        runtime_cache=runtime_cache,
        parameters=params,
        config={"params": params, "items": items_npy, "item_hex": item_hex, "items2": items2_npy,
                "item_hex2": item_hex2, "seed": 11, "queries": 24},
    )
