"""The ECP5's PLL (EHXPLLL): the dividers that make a kernel clock from the board's oscillator.

nextpnr derives the PLL output's constraint from the LPF's ``FREQUENCY`` of the input clock and these
dividers, so the clock a bitstream is timed for is the one the PLL really makes.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybrec.errors import HybrecError

REF_MHZ = 25.0   # the ULX3S oscillator


class PllError(HybrecError):
    """No EHXPLLL setting makes the requested frequency."""


@dataclass(frozen=True)
class PllSetting:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    clkop_cphase: int
    f_out_mhz: float
    f_vco_mhz: float
    f_pfd_mhz: float


# EHXPLLL limits (Lattice TN1263 / the ECP5 data sheet): input 8-400 MHz, PFD 3.125-400 MHz,
# VCO 400-800 MHz, CLKOP 3.125-400 MHz; feedback from CLKOP, so f_out = f_in / CLKI_DIV * CLKFB_DIV.
PFD_MHZ = (3.125, 400.0)
VCO_MHZ = (400.0, 800.0)
OUT_MHZ = (3.125, 400.0)


def pll_dividers(f_out_mhz: float, f_in_mhz: float = REF_MHZ, tolerance: float = 0.005) -> PllSetting:
    """The EHXPLLL dividers whose CLKOP is closest to ``f_out_mhz`` (then: VCO nearest its mid-range).

    Raises :class:`PllError` when the frequency is outside CLKOP's range or no setting comes within
    ``tolerance`` (relative)."""
    if not OUT_MHZ[0] <= f_out_mhz <= OUT_MHZ[1]:
        raise PllError(f"{f_out_mhz:g} MHz is outside the ECP5 PLL's output range "
                       f"({OUT_MHZ[0]:g}-{OUT_MHZ[1]:g} MHz)")
    best: tuple[float, float, PllSetting] | None = None
    for clki_div in range(1, 129):
        f_pfd = f_in_mhz / clki_div
        if not PFD_MHZ[0] <= f_pfd <= PFD_MHZ[1]:
            continue
        for clkfb_div in range(1, 81):
            f_out = f_pfd * clkfb_div
            if not OUT_MHZ[0] <= f_out <= OUT_MHZ[1]:
                continue
            for clkop_div in range(1, 129):
                f_vco = f_out * clkop_div
                if not VCO_MHZ[0] <= f_vco <= VCO_MHZ[1]:
                    continue
                rank = (abs(f_out - f_out_mhz), abs(f_vco - 600.0))
                if best is None or rank < best[:2]:
                    best = (*rank, PllSetting(clki_div, clkfb_div, clkop_div, clkop_div - 1, f_out, f_vco, f_pfd))
    if best is None or best[0] > tolerance * f_out_mhz:
        got = f" (closest {best[2].f_out_mhz:g} MHz)" if best else ""
        raise PllError(f"no ECP5 PLL setting makes {f_out_mhz:g} MHz from {f_in_mhz:g} MHz{got}")
    return best[2]
