"""The MLP's folding derived from the trained shape, a cycle budget and the target parts (docs/kernel.md,
"The derived folding"), for a kernel configuration without ``layers``.

As FINN's ``SetFolding`` derives PE and SIMD from a cycle target, :func:`derive_folding` picks the least
parallel folding that meets the budget, with this kernel's rules: SIMD divides MW, PE divides MH, a layer's
PE is the next layer's SIMD (the MVAUs are chained without width converters), and the budget holds the
layers together (``sum((MH/PE) * (MW/SIMD))``: a query's layers run one after another). Then, per layer,
whether its products are ``*`` (DSP blocks) or shifts and adds in the fabric (``lut_mult``), so that the
whole kernel's multipliers fit every target.

1. Every folding within ``target_cycles`` (:func:`foldings`), by products (``sum(SIMD * PE)``), fewest first.
2. Of the fewest products, each folding is planned and counted on every target with the fit check's model
   (:func:`hybrec.compile.resources.estimate`): its block RAM must fit every target; its products go to DSP
   blocks layer by layer where the kernel's multipliers (the scorer's and the normalisation's too) still fit
   every target, to the fabric otherwise. If none fits, the next product count is tried; if the blocks
   around the MLP alone do not fit, none ever will, and the fit check refuses with the numbers.
3. Of the foldings that fit, the one whose fullest target is least full by the rough logic estimate (LUTs
   and flip-flops as a fraction of the part) wins; then fewer cycles. Foldings of as many products differ
   there by a few per cent, within the estimate's error: the choice is deterministic, not measured.

Standard library and the fit check only; a derivation plans and counts a few dozen kernels (tens of ms).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hybrec.compile.blocks import FoldingError, LayerChoice
from hybrec.compile.blocks.base import divisors
from hybrec.compile.config import KernelConfig
from hybrec.compile.resources import estimate
from hybrec.compile.rtl import plan_kernel
from hybrec.golden import KernelParams

AROUND_MLP = ("hist_agg", "scorer", "hist_mask", "topk")   # blocks whose resources no folding changes


def foldings(shapes: Sequence[tuple[int, int]], budget: int) -> list[tuple[int, int, tuple[tuple[int, int], ...]]]:
    """Every ``(products, cycles, ((simd, pe), ...))`` of layers of ``(MW, MH)`` ``shapes`` whose cycles
    (``sum((MH/PE) * (MW/SIMD))``) are at most ``budget``, each layer's PE the next one's SIMD; sorted by
    products, then cycles."""
    found: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []

    def walk(index: int, simd: int | None, chosen: tuple[tuple[int, int], ...], cycles: int, products: int) -> None:
        if cycles + len(shapes) - index > budget:    # every layer left takes a cycle at least
            return
        if index == len(shapes):
            found.append((products, cycles, chosen))
            return
        mw, mh = shapes[index]
        for s in divisors(mw) if simd is None else [simd] if mw % simd == 0 else []:
            for p in divisors(mh):
                walk(index + 1, p, (*chosen, (s, p)), cycles + (mw // s) * (mh // p), products + s * p)

    walk(0, None, (), 0, 0)
    return sorted(found)


@dataclass(frozen=True)
class Derived:
    """A derived folding and why: ``choices`` per layer, its ``cycles`` and ``products``; how many foldings met
    the ``budget`` (``within``), how many had as few products (``tied``) and fitted every target (``fitting``);
    ``fullest`` the fullest target's rough logic (fraction, target, resource) with this folding; ``notes``
    one line per layer (its shape, cycles and where its products go). ``fits`` False: no folding fits, these
    are the least parallel one's (the fit check refuses it with the numbers)."""

    choices: tuple[LayerChoice, ...]
    cycles: int
    products: int
    budget: int
    targets: tuple[str, ...]
    within: int
    tied: int
    fitting: int
    fullest: tuple[float, str, str] | None
    notes: tuple[str, ...]
    fits: bool = True

    def as_dict(self) -> dict[str, Any]:
        fullest = None if self.fullest is None else {"fraction": round(self.fullest[0], 4), "target": self.fullest[1],
                                                     "resource": self.fullest[2]}
        return {"budget_cycles": self.budget, "targets": list(self.targets), "cycles": self.cycles,
                "products": self.products, "foldings_within_budget": self.within,
                "foldings_with_as_few_products": self.tied, "of_them_fitting": self.fitting,
                "fullest_target_logic": fullest, "fits": self.fits, "notes": list(self.notes),
                "layers": [{"simd": c.simd, "pe": c.pe, "lut_mult": c.lut_mult} for c in self.choices]}

    def describe(self) -> list[str]:
        """The log's lines: what was derived, then why, layer by layer."""
        where = f" on {', '.join(self.targets)}" if self.targets else " (no target part)"
        if not self.fits:
            return [f"folding for {self.budget} MLP cycles{where}: {self.notes[-1]}; the fit check counts the least "
                    "parallel one"]
        head = (f"folding derived for {self.budget} MLP cycles{where}: {self.cycles} cycles, {self.products} "
                f"products, the fewest of the {self.within} foldings within the budget")
        if self.fullest is not None:
            share, key, resource = self.fullest
            head += (f"; {self.fitting} of the {self.tied} with as few fit every target, this one fills the fullest "
                     f"least (~{share:.0%} of the {key}'s {resource}, a rough estimate)" if self.tied > 1 else
                     f" (the fullest target: ~{share:.0%} of the {key}'s {resource}, a rough estimate)")
        return [head, *(f"  {note}" for note in self.notes)]


@dataclass(frozen=True)
class _Option:
    choices: tuple[LayerChoice, ...]
    cycles: int
    fullest: tuple[float, str, str]
    notes: tuple[str, ...]


def _fmt(value: float) -> str:
    return f"{round(value):,}"


def _layer(params: KernelParams, index: int, simd: int, pe: int) -> str:
    spec = params.layers[index]
    return (f"layer {index} ({spec.mw} -> {spec.mh}): SIMD {simd}, PE {pe}, "
            f"{(spec.mw // simd) * (spec.mh // pe)} cycles")


def _option(params: KernelParams, config: KernelConfig, folding: tuple[tuple[int, int], ...], cycles: int,
            targets: tuple[str, ...]) -> _Option | None:
    """The folding with the best place for each layer's products, if it fits every target (else None)."""
    fabric = plan_kernel(params, config, [LayerChoice(s, p, lut_mult=True) for s, p in folding])
    flat = [estimate(fabric, t) for t in targets]
    if any(e.used[e.family.bram] > e.device.capacity[e.family.bram] for e in flat):
        return None
    dsp = plan_kernel(params, config, [LayerChoice(s, p, lut_mult=False) for s, p in folding])
    prod = [estimate(dsp, t) for t in targets]
    best: tuple[tuple[float, str, str], tuple[bool, ...], list[dict[str, float]]] | None = None
    # lut_mult per layer (True: the fabric, False: DSP blocks). The estimate is a sum per block, so a mix is
    # the all-fabric estimate plus, for each layer in DSPs, its block's difference between the two plans.
    for mix in itertools.product((True, False), repeat=len(folding)):
        used = []
        for f, d in zip(flat, prod, strict=True):
            u = dict(f.used)
            for block in (f"mvau{index}" for index, lut_mult in enumerate(mix) if not lut_mult):
                for r in u:
                    u[r] += d.by_block[block][r] - f.by_block[block][r]
            used.append(u)
        if any(u[e.family.dsp] > e.device.capacity[e.family.dsp] for u, e in zip(used, flat, strict=True)):
            continue
        fullest = max((u[r] / e.device.capacity[r], e.device.key, r)
                      for u, e in zip(used, flat, strict=True) for r in u if r not in e.exact)
        if best is None or fullest[0] < best[0][0]:
            best = (fullest, mix, used)
    if best is None:
        return None
    fullest, mix, chosen = best
    notes = []
    for index, ((simd, pe), lut_mult) in enumerate(zip(folding, mix, strict=True)):
        block = f"mvau{index}"
        need = []   # per target: the DSP name, the target, the kernel's DSPs with this layer's in them, the part's
        for f, d, u in zip(flat, prod, chosen, strict=True):
            name, own = f.family.dsp, d.by_block[block][f.family.dsp]
            need.append((name, f.device.key, u[name] + (own if lut_mult else 0), f.device.capacity[name], own))
        if not lut_mult:
            where = "; ".join(f"{_fmt(own)} {name} on {key} ({_fmt(total)} of {_fmt(cap)} in all)"
                              for name, key, total, cap, own in need)
            notes.append(f"{_layer(params, index, simd, pe)}; products in DSP blocks: {where}")
            continue
        over = [f"{_fmt(total)} {name} of {_fmt(cap)} on {key}" for name, key, total, cap, own in need if total > cap]
        room = [f"{key} would have room ({_fmt(total)} of {_fmt(cap)})"
                for name, key, total, cap, own in need if total <= cap and own]
        if over:
            why = f"in DSP blocks the kernel would need {'; '.join(over)}" + (f", though {' and '.join(room)}"
                                                                                if room else "")
        elif not any(own for *_, own in need):
            why = "too narrow for a DSP block on every target"
        else:
            why = "in DSP blocks they would fit but leave the fullest target more logic, by the estimate"
        notes.append(f"{_layer(params, index, simd, pe)}; products in the fabric (lut_mult): {why}")
    choices = tuple(LayerChoice(s, p, lut_mult=m) for (s, p), m in zip(folding, mix, strict=True))
    return _Option(choices, cycles, fullest, tuple(notes))


def derive_folding(params: KernelParams, config: KernelConfig, targets: Sequence[str],
                   log: Callable[[str], None] = print) -> Derived:
    """The folding of ``params``' MLP for ``config.target_cycles`` on ``targets`` (see the module docstring);
    logs what was derived and why. Without targets: the fewest products, the blocks' defaults (DSP products).
    When no folding fits, the least parallel one comes back with ``fits`` False (the fit check then refuses it
    with the numbers)."""
    budget, parts = config.target_cycles, tuple(targets)
    shapes = [(s.mw, s.mh) for s in params.layers]
    found = foldings(shapes, budget)
    if not found:
        widths = " -> ".join(str(w) for w in [shapes[0][0], *(h for _, h in shapes)])
        raise FoldingError(f"no folding of the {widths} MLP takes at most target_cycles={budget} cycles (fully "
                           f"parallel, a cycle per layer: {len(shapes)}); raise target_cycles or give `layers`")
    least = found[0][0]
    tied = sum(1 for f in found if f[0] == least)
    products, cycles, folding = found[0]
    if not parts:
        derived = Derived(tuple(LayerChoice(s, p) for s, p in folding), cycles, products, budget, parts, len(found),
                          tied, 0, None, tuple(f"{_layer(params, i, s, p)}; products `*` (DSP blocks where the "
                                               "synthesis maps them)" for i, (s, p) in enumerate(folding)))
    else:
        derived = _search(params, config, found, parts)
    for line in derived.describe():
        log(line)
    return derived


def _search(params: KernelParams, config: KernelConfig, found: list[tuple[int, int, tuple[tuple[int, int], ...]]],
            parts: tuple[str, ...]) -> Derived:
    budget = config.target_cycles
    around = _around_mlp(params, config, found[0][2], parts)
    options: list[_Option] = []
    level, tied = found[0][0], 0
    for products, cycles, folding in ([] if around else found):
        if products != level:
            if options:
                break
            level, tied = products, 0
        tied += 1
        option = _option(params, config, folding, cycles, parts)
        if option is not None:
            options.append(option)
    if not options:
        products, cycles, folding = found[0]
        why = around or f"no folding within {budget} cycles fits {', '.join(parts)} by block RAM and multipliers"
        return Derived(tuple(LayerChoice(s, p, lut_mult=True) for s, p in folding), cycles, products, budget, parts,
                       len(found), sum(1 for f in found if f[0] == products), 0, None, (why,), fits=False)
    best = min(options, key=lambda o: (o.fullest[0], o.cycles, [(c.simd, c.pe) for c in o.choices]))
    return Derived(best.choices, best.cycles, level, budget, parts, len(found), tied, len(options), best.fullest,
                   best.notes)


def _around_mlp(params: KernelParams, config: KernelConfig, folding: tuple[tuple[int, int], ...],
                targets: tuple[str, ...]) -> str:
    """Why no folding can fit (the blocks around the MLP alone exceed a target), or ''."""
    plan = plan_kernel(params, config, [LayerChoice(s, p, lut_mult=True) for s, p in folding])
    for key in targets:
        est = estimate(plan, key)
        for r in est.exact:
            alone = sum(est.by_block[b][r] for b in AROUND_MLP if b in est.by_block)
            if alone > est.device.capacity[r]:
                return (f"the blocks around the MLP alone need {_fmt(alone)} {r}, the {key} has "
                        f"{_fmt(est.device.capacity[r])}: no folding fits")
    return ""
