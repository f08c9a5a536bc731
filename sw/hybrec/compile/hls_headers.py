"""C++ headers for the HLS kernel (``hls_kernels/``): parameter structs, ROM arrays in the blocks' layouts.

ROMs are written as plain C integer arrays (``signed char``, ``short``, ``int``, the narrowest that holds
the values); each block reads an element into an ``ap_int`` of its declared width. ``ap_int`` arrays
would be the HLS idiom, but g++ turns every ``ap_int`` element of an initializer into a dynamic
initializer: the 161k-element ML-100K feature ROM took g++ 12 thirteen minutes and then crashed, where the
``signed char`` array compiles in three seconds.

Layouts (the blocks' header comments say the same):

- features ``[N][F]``, the reciprocal table ``[LMAX + 1]`` (``numerics.reciprocal_table``);
- MVAU weights ``[PE][NF*SF][SIMD]``: ``w[p][nf*SF + sf][i] = W[sf*SIMD + i][nf*PE + p]``;
- MVAU thresholds ``[PE][NF][2^bits - 1]``: ``t[p][nf][k] = T[nf*PE + p][k]``;
- item vectors ``[LANES][NROWS][D]``: ``items[l][r] = item r*LANES + l``, zero past ``N``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def mvau_weight_rom(weights: np.ndarray, simd: int, pe: int) -> np.ndarray:
    """``W [MW, MH]`` -> ``[PE, NF*SF, SIMD]``."""
    mw, mh = weights.shape
    sf, nf = mw // simd, mh // pe
    # W[sf*SIMD + i, nf*PE + p] -> [sf, i, nf, p] -> [p, nf, sf, i]
    return np.asarray(weights).reshape(sf, simd, nf, pe).transpose(3, 2, 0, 1).reshape(pe, nf * sf, simd)


def mvau_threshold_rom(thresholds: np.ndarray, pe: int) -> np.ndarray:
    """``T [MH, NT]`` -> ``[PE, NF, NT]``."""
    mh, nt = thresholds.shape
    return np.asarray(thresholds).reshape(mh // pe, pe, nt).transpose(1, 0, 2)


def item_rom(items: np.ndarray, lanes: int) -> np.ndarray:
    """``items [N, D]`` -> ``[LANES, NROWS, D]``, zero past ``N``."""
    n, d = items.shape
    rows = -(-n // lanes)
    padded = np.zeros((rows * lanes, d), dtype=np.int64)
    padded[:n] = items
    return padded.reshape(rows, lanes, d).transpose(1, 0, 2)


def kernel_structs(kp: Mapping[str, Any]) -> dict[str, dict[str, int | bool]]:
    """The blocks' parameter structs from a manifest's ``kernel.parameters`` (see ``compile.rtl``)."""
    layers = kp["layers"]
    n, id_bits, lanes, score_bits = kp["n_items"], kp["id_bits"], kp["lanes"], kp["score_bits"]
    structs: dict[str, dict[str, int | bool]] = {
        "HistAggP": {"N": n, "F": kp["feature_dim"], "FB": kp["feature_bits"], "LMAX": kp["lmax"],
                     "SHIFT": kp["agg_shift"], "NORM_PAR": kp["norm_par"], "OUT_PAR": layers[0]["simd"],
                     "ID_BITS": id_bits},
    }
    for index, layer in enumerate(layers):
        structs[f"Layer{index}P"] = {
            "MW": layer["mw"], "MH": layer["mh"], "SIMD": layer["simd"], "PE": layer["pe"],
            "IN_BITS": layer["in_bits"], "IN_SIGNED": bool(layer["in_signed"]), "W_BITS": layer["w_bits"],
            "ACC_BITS": layer["acc_bits"], "OUT_BITS": layer["out_bits"], "OUT_BIAS": layer["out_bias"],
            "NO_ACT": False}
    structs["ScorerP"] = {"N": n, "D": kp["out_dim"], "UBITS": kp["user_bits"], "USIGNED": bool(kp["user_signed"]),
                          "IBITS": kp["item_bits"], "LANES": lanes, "ID_BITS": id_bits, "SCORE_BITS": score_bits,
                          "IN_PAR": layers[-1]["pe"]}
    structs["MaskP"] = {"N": n, "LANES": lanes, "ID_BITS": id_bits, "SCORE_BITS": score_bits}
    structs["TopkP"] = {"LANES": lanes, "K": kp["k"], "ID_BITS": id_bits, "SCORE_BITS": score_bits}
    return structs
