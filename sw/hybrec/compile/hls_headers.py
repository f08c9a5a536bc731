"""C++ for the HLS headers (``hls_kernels/``): parameter structs and constant arrays (the kernel's reciprocal
table, the block tests' ROMs).

ROMs are written as plain C integer arrays (``signed char``, ``short``, ``int``, the narrowest that holds
the values); each block reads an element into an ``ap_int`` of its declared width. ``ap_int`` arrays
would be the HLS idiom, but g++ turns every ``ap_int`` element of an initializer into a dynamic
initializer: the 161k-element ML-100K feature ROM took g++ 12 thirteen minutes and then crashed, where the
``signed char`` array compiles in three seconds.

The arrays' layouts are the blocks' (:mod:`hybrec.compile.blocks`): the reciprocal table ``[LMAX + 1]``; in
the block tests features ``[N][F]``, MVAU weights ``[PE][NF*SF][SIMD]`` and thresholds ``[PE][NF][2^bits - 1]``,
item vectors ``[LANES][NROWS][D]``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_C_TYPES = [("signed char", 8), ("short", 16), ("int", 32)]

StructFields = Mapping[str, int | bool]


def c_type(values: np.ndarray) -> str:
    """The narrowest signed C type that holds every value."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for name, bits in _C_TYPES:
        if -(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1)):
            return name
    raise ValueError(f"values in [{lo}, {hi}] do not fit a 32-bit ROM element")


def _braces(values: np.ndarray) -> str:
    if values.ndim == 1:
        return "{" + ", ".join(map(str, values.tolist())) + "}"
    return "{" + ",\n".join(_braces(sub) for sub in values) + "}"


def c_array(name: str, values: np.ndarray) -> str:
    """``static const T name[d0][d1]... = {...};`` with nested braces; ``T`` from :func:`c_type`."""
    values = np.asarray(values, dtype=np.int64)
    if values.ndim < 1 or values.size == 0:
        raise ValueError(f"{name}: a ROM needs at least one element, got shape {values.shape}")
    dims = "".join(f"[{d}]" for d in values.shape)
    return f"static const {c_type(values)} {name}{dims} = {_braces(values)};\n"


def c_int_array(name: str, values: list[int]) -> str:
    """``constexpr int name[n] = {...};`` at namespace scope (a table of the shape; no out-of-class definition
    needed under C++14, which Vitis HLS compiles)."""
    return f"constexpr int {name}[{len(values)}] = {{{', '.join(str(int(v)) for v in values)}}};\n"


def c_struct(name: str, fields: StructFields) -> str:
    """A struct of ``static constexpr`` members (the blocks' template parameter ``P``)."""
    lines = [f"struct {name} {{"]
    for key, value in fields.items():
        if isinstance(value, bool):
            lines.append(f"  static constexpr bool {key} = {'true' if value else 'false'};")
        else:
            lines.append(f"  static constexpr int {key} = {int(value)};")
    lines.append("};")
    return "\n".join(lines) + "\n"
