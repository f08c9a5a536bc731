"""``$readmemh`` files of the kernel's ROMs (the layouts the hand-written blocks under ``hw/`` read).

- feature ROM (``hw/hist_agg``): ``groups`` files ``<prefix>_<gg>.hex`` (``gg``: two digits), group ``g``
  ``N`` lines of ``(F / groups) * feature_bits`` bits, feature ``g * F / groups + j`` at ``[j * bits +: bits]``
  (two's complement);
- reciprocal table (``hw/hist_agg``): ``lmax + 1`` lines of ``agg_shift + 1`` bits,
  ``numerics.reciprocal_table``;
- item ROM (``hw/scorer``): rows of ``lanes * D * item_bits`` bits, item ``r * lanes + l`` at lane ``l`` of
  row ``r``, zeros past ``N``, cut into column groups of ``group_bits`` bits (the last takes the rest; 0: the
  whole row), group ``g`` in ``<prefix>_<gg>.hex``: ``ceil(N / lanes)`` lines of that group's bits;
- MVAU weights and thresholds: :mod:`hybrec.compile.mvau_mem`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hybrec import numerics


def pack_rows(values: np.ndarray, bits: int) -> list[int]:
    """Pack each row of ``values [R, C]`` into one word: column ``c`` at bits ``[c*bits +: bits]``.

    Values are two's complement (signed or unsigned both fit as long as they fit in ``bits``).
    """
    rows = np.asarray(values, dtype=np.int64)
    if rows.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {rows.shape}")
    mask = (1 << bits) - 1
    words = []
    for row in rows:
        word = 0
        for col, value in enumerate(row.tolist()):
            word |= (int(value) & mask) << (col * bits)
        words.append(word)
    return words


def write_memh(path: Path, words: list[int], width: int) -> Path:
    """Write ``words`` as a ``$readmemh`` file, one ``width``-bit word per line."""
    digits = max(1, (width + 3) // 4)
    limit = 1 << width
    lines = []
    for word in words:
        if not 0 <= word < limit:
            raise ValueError(f"word {word:#x} does not fit in {width} bits")
        lines.append(f"{word:0{digits}x}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_feature_rom(prefix: Path, features: np.ndarray, bits: int, groups: int = 1) -> list[Path]:
    """The feature ROM as ``groups`` column groups, ``<prefix>_00.hex``, ``<prefix>_01.hex``, ..."""
    f = features.shape[1]
    if groups < 1 or groups > 100 or f % groups:
        raise ValueError(f"{groups} ROM groups do not divide {f} features")
    width = f // groups
    return [write_memh(prefix.with_name(f"{prefix.name}_{g:02d}.hex"),
                       pack_rows(features[:, g * width:(g + 1) * width], bits), width * bits)
            for g in range(groups)]


def write_recip_rom(path: Path, lmax: int, shift: int = numerics.AGG_SHIFT) -> Path:
    return write_memh(path, [int(r) for r in numerics.reciprocal_table(lmax, shift)], shift + 1)


def write_item_rom(prefix: Path, items: np.ndarray, bits: int, lanes: int, group_bits: int = 0) -> list[Path]:
    """The item ROM as column groups of ``group_bits`` bits, ``<prefix>_00.hex``, ``<prefix>_01.hex``, ..."""
    n, d = items.shape
    rows = -(-n // lanes)
    padded = np.zeros((rows * lanes, d), dtype=np.int64)
    padded[:n] = items
    words = pack_rows(padded.reshape(rows, lanes * d), bits)
    width = lanes * d * bits
    step = width if group_bits <= 0 or group_bits > width else group_bits
    groups = -(-width // step)
    if groups > 100:
        raise ValueError(f"{groups} item ROM groups of {step} bits: the scorer takes at most 100")
    files = []
    for g in range(groups):
        lo, w = g * step, min(step, width - g * step)
        files.append(write_memh(prefix.with_name(f"{prefix.name}_{g:02d}.hex"),
                                [(word >> lo) & ((1 << w) - 1) for word in words], w))
    return files
