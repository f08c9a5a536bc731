"""The committed ECP5 bitstream (bitstreams/ml100k-ecp5/) stays up to date for `make bitstream`.

`make demo` trains a model, compiles it and runs `make bitstream`, which must find the committed bitstream up to
date for the model's shape: a change to the RTL generator, the board files or the flow's recipe that moves
the key would have every user's `make demo` place and route for ~25 minutes. The key holds the shape, the
kernel's files and the flow, never trained values, so a model of the ML-100K ECP5 shape made without training
(every value zero) gives the same key as any trained one, in a fraction of a second.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

from hybrec.bitstream import ecp5
from hybrec.builddir import Bitstream, BuildDir
from hybrec.cli import build_parser
from hybrec.compile.config import load_kernel_config
from tiny_kernel import shaped_params, synthetic_build

ROOT = Path(__file__).resolve().parents[2]
ML100K_ITEMS = 1682


def make_bitstream_args() -> list[str]:
    """`make bitstream`'s arguments to `hybrec bitstream`, with the Makefile's variables filled in."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    values = dict(re.findall(r"^(BITSTREAM_\w+|BUILD_ECP5)\s*\??=\s*(.*)$", text, flags=re.M))
    args = values["BITSTREAM_ARGS"]
    while (ref := re.search(r"\$\((\w+)\)", args)) is not None:
        args = args.replace(ref[0], values[ref[1]].strip())
    return ["bitstream", "--build", values["BUILD_ECP5"].strip(), *shlex.split(args)]


def test_make_bitstream_finds_the_committed_bitstream_up_to_date(tmp_path: Path) -> None:
    args = build_parser().parse_args(make_bitstream_args())
    assert Path(args.out) == Path("bitstreams/ml100k-ecp5") and args.target == "ecp5-85k"
    config = load_kernel_config(ROOT / "configs" / "kernel-ml100k-ecp5.yaml")
    histories = [np.arange(5), np.arange(40, 300)]
    build = BuildDir.open(synthetic_build(tmp_path / "build", shaped_params(ML100K_ITEMS), config, histories,
                                          "untrained"))
    committed = Bitstream.read(ROOT / args.out)
    assert committed.matches(build) == "same shape"
    key = ecp5.input_key(build, args.target, args.freq, ecp5.check_seeds(args.seeds), ecp5.BOARD_DIR / "ulx3s.lpf",
                         not args.all_seeds, args.tmg_ripup, args.margin)
    assert ecp5.sha256_json(key) == committed.raw["key"], (
        "the flow, the RTL generator or the board files changed what the committed bitstream is a function of: "
        "rebuild it with `make bitstream` (bitstreams/README.md) and commit it, or undo the change")
    assert committed.timing_met and committed.constraint_mhz == args.freq
