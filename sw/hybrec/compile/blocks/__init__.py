"""One description per hardware block of the kernel: its parameters and their checks, its cycles, its memory
files and its HLS parameter struct. The RTL generator (:mod:`hybrec.compile.rtl`), the cycle model, the HLS
headers (:mod:`hybrec.compile.hls`) and the benchmark's catalogue model all read them.

:class:`KernelPlan` is the whole kernel: the blocks of one trained model at one configuration. It is what a
build's manifest records as ``kernel.parameters`` (:meth:`KernelPlan.parameters`), and what a later stage
rebuilds from there (:meth:`KernelPlan.from_parameters`). Standard library and numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrec.compile.blocks.base import ID_WIDTH, OUT_WIDTH, FoldingError
from hybrec.compile.blocks.hist_agg import HistAgg
from hybrec.compile.blocks.hist_mask import HistMask
from hybrec.compile.blocks.mvau import Mvau, hls_struct, write_mem_files
from hybrec.compile.blocks.scorer import Scorer
from hybrec.compile.blocks.topk import TopK
from hybrec.golden import KernelParams

__all__ = ["ID_WIDTH", "OUT_WIDTH", "FoldingError", "HistAgg", "HistMask", "KernelPlan", "Mvau", "Scorer", "TopK"]

TOP = "hybrec_kernel"


@dataclass(frozen=True)
class LayerChoice:
    """How one MLP layer is folded and built (the kernel configuration's ``layers`` entry)."""

    simd: int
    pe: int
    lut_mult: bool = False
    dot_adds: int = 2
    weight_rom: str = "auto"


@dataclass(frozen=True)
class KernelPlan:
    """The kernel's blocks, in dataflow order: aggregation, MVAUs, scorer, history mask, top-K."""

    hist_agg: HistAgg
    layers: tuple[Mvau, ...]
    scorer: Scorer
    hist_mask: HistMask
    topk: TopK
    ids_per_beat: int

    def __post_init__(self) -> None:
        for index in range(1, len(self.layers)):
            if self.layers[index - 1].pe != self.layers[index].simd:
                raise FoldingError(f"layers {index - 1} and {index}: PE={self.layers[index - 1].pe} must equal the "
                                   f"next layer's SIMD={self.layers[index].simd} (the kernel has no width converter "
                                   "between MVAUs)")
        if self.topk.k > self.hist_agg.n_items:
            raise FoldingError(f"k={self.topk.k} exceeds the {self.hist_agg.n_items} items")

    @classmethod
    def for_model(cls, params: KernelParams, layers: list[LayerChoice], *, norm_par: int, rom_groups: int,
                  lanes: int, adds_per_stage: int, bit_planes: int, mul_lanes: int, rom_group_bits: int,
                  rom_out_reg: int, merge_split: int, mask_banks: int, ids_per_beat: int, k: int) -> KernelPlan:
        """The blocks of a trained model (:class:`hybrec.golden.KernelParams`) at a configuration; raises
        :class:`FoldingError` when a value is impossible, before anything is written."""
        if len(layers) != len(params.layers):
            raise FoldingError(f"the folding lists {len(layers)} layers, the model has {len(params.layers)}")
        if not params.exclude_history:
            raise FoldingError("the kernel always excludes the query's history from its top-K")
        mvaus = []
        for index, (choice, spec) in enumerate(zip(layers, params.layers, strict=True)):
            try:
                mvaus.append(Mvau.for_layer(spec, choice.simd, choice.pe, choice.lut_mult, choice.dot_adds,
                                            choice.weight_rom))
            except FoldingError as err:
                raise FoldingError(f"layer {index}: {err}") from None
        n = params.n_items
        return cls(
            hist_agg=HistAgg(n_items=n, feature_dim=params.feature_dim, feature_bits=params.feature_bits,
                             lmax=params.lmax, agg_shift=params.agg_shift, norm_par=norm_par, rom_groups=rom_groups,
                             ids_per_beat=ids_per_beat),
            layers=tuple(mvaus),
            scorer=Scorer(n_items=n, out_dim=params.out_dim, user_bits=params.user_bits,
                          user_signed=params.user_signed, item_bits=params.item_bits, lanes=lanes,
                          adds_per_stage=adds_per_stage, bit_planes=bit_planes, mul_lanes=mul_lanes,
                          rom_group_bits=rom_group_bits, rom_out_reg=rom_out_reg),
            hist_mask=HistMask(n_items=n, lanes=lanes, banks=mask_banks),
            topk=TopK(k=k, lanes=lanes, merge_split=merge_split),
            ids_per_beat=ids_per_beat)

    # -- the manifest's kernel.parameters --------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        """Every hardware parameter (what the top template renders and the manifest records)."""
        return {"top": TOP, **self.hist_agg.parameters(), "layers": [m.parameters() for m in self.layers],
                "out_dim": self.scorer.out_dim, **self.scorer.parameters(), **self.topk.parameters(),
                **self.hist_mask.parameters(), "ids_per_beat": self.ids_per_beat}

    @classmethod
    def from_parameters(cls, p: dict[str, Any]) -> KernelPlan:
        """The plan a build's ``kernel.parameters`` describes."""
        try:
            return cls(hist_agg=HistAgg.from_parameters(p), layers=tuple(Mvau.from_parameters(y) for y in p["layers"]),
                       scorer=Scorer.from_parameters(p), hist_mask=HistMask.from_parameters(p),
                       topk=TopK.from_parameters(p), ids_per_beat=p["ids_per_beat"])
        except (KeyError, TypeError) as err:
            raise FoldingError(f"kernel parameters without {err}: a build of another hybrec version; "
                               "compile it again") from None

    # -- cycles --------------------------------------------------------------------------------------------
    def cycle_model(self, history: int) -> dict[str, Any]:
        """Cycles of one query of ``history`` ids on an idle kernel, stage by stage, by the blocks' pipelines
        (the simulation measures the real figure; this is the budget it is compared with)."""
        agg, layers, scorer = self.hist_agg, self.layers, self.scorer
        ids = min(history, agg.lmax)
        first = layers[0]
        return {"history": ids, "input_beats": -(-history // self.ids_per_beat), "aggregation": agg.cycles(history),
                "mlp_layer0": first.sf * first.nf + first.pipeline_depth,
                "mlp_rest": sum((y.nf - 1) * y.sf + y.sf + y.pipeline_depth for y in layers[1:]),
                "scorer_rows": scorer.rows(), "topk_merge": self.topk.merge_cycles(),
                "ideal_macs": {"aggregation_adds": ids * agg.feature_dim,
                               "mlp": sum(y.mw * y.mh for y in layers),
                               "scores": scorer.n_items * scorer.out_dim},
                "mlp_exp_cycles": [y.exp_cycles for y in layers]}

    def query_cycles(self, history: int, n_items: int | None = None) -> int:
        """The sum of :meth:`cycle_model`'s stages; with ``n_items``, for a catalogue of that size (the same
        blocks, more scorer rows)."""
        model = self.cycle_model(history)
        rows = self.scorer.rows(n_items)
        return int(model["aggregation"] + model["mlp_layer0"] + model["mlp_rest"] + rows + model["topk_merge"])

    # -- files -----------------------------------------------------------------------------------------------
    def write_memory(self, rtl_dir: Path, params: KernelParams) -> dict[str, Any]:
        """Every block's memory files in ``rtl_dir``; returns the names the top template needs."""
        self.hist_agg.write_memory(rtl_dir, params.features)
        self.scorer.write_memory(rtl_dir, params.items)
        layers = []
        for index, (mvau, w, t) in enumerate(zip(self.layers, params.weights, params.thresholds, strict=True)):
            write_mem_files(rtl_dir, mvau, w, t, stem=f"mvau{index}")
            layers.append({"weight_file": f"mvau{index}_weights.hex", "thresh_prefix": f"mvau{index}_thresh_s"})
        return {"features": "features", "recip": "recip.hex", "item_rom": "items", "layers": layers}

    def hls_structs(self) -> dict[str, dict[str, int | bool]]:
        """The HLS blocks' parameter structs (``params.h``)."""
        id_bits, score_bits = self.hist_agg.id_bits, self.scorer.score_bits
        structs: dict[str, dict[str, int | bool]] = {"HistAggP": self.hist_agg.hls_struct(self.layers[0].simd)}
        for index, layer in enumerate(self.layers):
            structs[f"Layer{index}P"] = hls_struct(layer)
        structs["ScorerP"] = self.scorer.hls_struct(id_bits, self.layers[-1].pe)
        structs["MaskP"] = self.hist_mask.hls_struct(id_bits, score_bits)
        structs["TopkP"] = self.topk.hls_struct(id_bits, score_bits)
        return structs
