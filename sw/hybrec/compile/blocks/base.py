"""What every block description shares: the error for impossible parameters and the ``$readmemh`` writer.

Memory files are hex text, one word per line, element 0 of a packed row in the least significant bits
(two's complement); each block's module says what its rows hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hybrec.errors import HybrecError

ID_WIDTH = 16      # one item id on s_axis (uint16); s_axis_tdata carries ids_per_beat of them
OUT_WIDTH = 64     # m_axis_tdata: score int32 | id uint16 | flags 3 | valid 1
MAX_FILE_GROUPS = 100   # memory files numbered with two digits


class FoldingError(HybrecError, ValueError):
    """An impossible folding or block parameter; the message says which and why."""


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


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


Memory = tuple[int, list[int]]   # one writable memory of the kernel: (line width in bits, its lines)


def divisors(n: int) -> list[int]:
    """The divisors of ``n`` (the PE or SIMD values a layer of ``n`` channels can take)."""
    return [d for d in range(1, n + 1) if n % d == 0]


def column_widths(width: int, group_bits: int) -> list[int]:
    """The widths of ``width``-bit lines cut into column groups of ``group_bits`` (the last takes the rest; 0:
    one group)."""
    step = width if group_bits <= 0 or group_bits > width else group_bits
    if -(-width // step) > MAX_FILE_GROUPS:
        raise FoldingError(f"{-(-width // step)} memory groups of {step} bits: at most {MAX_FILE_GROUPS}")
    return [min(step, width - lo) for lo in range(0, width, step)]


def column_groups(words: list[int], width: int, group_bits: int) -> list[Memory]:
    """``words`` (``width`` bits each) cut into column groups (:func:`column_widths`): a memory per group, each
    with its own address register in the block."""
    memories, lo = [], 0
    for w in column_widths(width, group_bits):
        memories.append((w, [(word >> lo) & ((1 << w) - 1) for word in words]))
        lo += w
    return memories


def write_column_groups(prefix: Path, words: list[int], width: int, group_bits: int) -> list[Path]:
    """:func:`column_groups`, group ``g`` in ``<prefix>_<gg>.hex``."""
    return [write_memh(prefix.with_name(f"{prefix.name}_{g:02d}.hex"), lines, w)
            for g, (w, lines) in enumerate(column_groups(words, width, group_bits))]
