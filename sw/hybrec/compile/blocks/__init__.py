"""One description per hardware block of the kernel: its parameters and their checks, its cycles, its memory
files and its HLS parameter struct. The RTL generator (:mod:`hybrec.compile.rtl`), the cycle model, the HLS
headers (:mod:`hybrec.compile.hls`) and the benchmark's catalogue model all read them.

:class:`KernelPlan` is the whole kernel: the blocks of one trained model at one configuration. It is what a
build's manifest records as ``kernel.parameters`` (:meth:`KernelPlan.parameters`), and what a later stage
rebuilds from there (:meth:`KernelPlan.from_parameters`). Standard library and numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hybrec import protocol
from hybrec.compile.blocks.base import ID_WIDTH, OUT_WIDTH, FoldingError, Memory
from hybrec.compile.blocks.hist_agg import HistAgg
from hybrec.compile.blocks.hist_mask import HistMask
from hybrec.compile.blocks.mvau import Mvau, hls_struct, memories, memory_shapes
from hybrec.compile.blocks.scorer import Scorer
from hybrec.compile.blocks.topk import TopK
from hybrec.golden import KernelParams

__all__ = ["ID_WIDTH", "OUT_WIDTH", "FoldingError", "HistAgg", "HistMask", "KernelPlan", "Mvau", "Scorer", "TopK"]

TOP = "hybrec_kernel"
CAPACITY_STEP = 256     # the default item capacity: the catalogue rounded up to a multiple of this
FRONT_CYCLES = 2        # before the aggregation: the input register slice and the query's header beat


def default_capacity(n_items: int) -> int:
    return -(-n_items // CAPACITY_STEP) * CAPACITY_STEP


@dataclass(frozen=True)
class LoadBus:
    """The kernel's internal load bus (docs/model-image.md): each block's first memory index, and the
    memories in load order as ``(width, depth)``."""

    hist_agg_base: int
    layer_bases: tuple[int, ...]
    scorer_base: int
    memories: tuple[tuple[int, int], ...]

    @property
    def mem_bits(self) -> int:
        return max(1, (len(self.memories) - 1).bit_length())

    @property
    def addr_bits(self) -> int:
        return max(1, (max(depth for _, depth in self.memories) - 1).bit_length())

    @property
    def data_bits(self) -> int:
        """The widest line, in whole 32-bit words (the controller assembles lines word by word)."""
        return 32 * max(-(-width // 32) for width, _ in self.memories)

    @property
    def payload_words(self) -> int:
        return sum(-(-width // 32) * depth for width, depth in self.memories)


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
                  rom_out_reg: int, merge_split: int, mask_banks: int, ids_per_beat: int, k: int,
                  n_items_max: int | None = None) -> KernelPlan:
        """The kernel shape for a trained model (:class:`hybrec.golden.KernelParams`) at a configuration: the
        blocks' item capacity is ``n_items_max`` (default :func:`default_capacity`), the MLP's accumulators
        hold any weights of the layers' widths. Raises :class:`FoldingError` when a value is impossible, before
        anything is written."""
        n = default_capacity(params.n_items) if n_items_max is None else n_items_max
        if n < params.n_items:
            raise FoldingError(f"the catalogue has {params.n_items} items; n_items_max={n} holds fewer")
        if len(layers) != len(params.layers):
            widths = " -> ".join(str(w) for w in [params.layers[0].mw, *(spec.mh for spec in params.layers)])
            raise FoldingError(f"the folding lists {len(layers)} layers, the model has {len(params.layers)} "
                               f"({widths}); leave `layers` out to derive a folding")
        if not params.exclude_history:
            raise FoldingError("the kernel always excludes the query's history from its top-K")
        mvaus = []
        for index, (choice, spec) in enumerate(zip(layers, params.layers, strict=True)):
            try:
                mvaus.append(Mvau.for_layer(spec.worst_case(), choice.simd, choice.pe, choice.lut_mult,
                                            choice.dot_adds, choice.weight_rom))
            except FoldingError as err:
                raise FoldingError(f"layer {index}: {err}") from None
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
        """Every hardware parameter: the kernel's shape (what the top template renders, the manifest records
        and the shape key hashes). ``n_items`` is the item capacity."""
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
    def cycle_model(self, history: int, n_items: int | None = None) -> dict[str, Any]:
        """Cycles of one query of ``history`` ids on an idle kernel holding ``n_items`` live items (default: the
        capacity), stage by stage, by the blocks' pipelines (the simulation measures the real figure; this is
        the budget it is compared with). The aggregation includes the input slice and the header beat."""
        agg, layers, scorer = self.hist_agg, self.layers, self.scorer
        ids = min(history, agg.lmax)
        first = layers[0]
        live = scorer.n_items if n_items is None else n_items
        return {"history": ids, "n_items": live, "input_beats": 1 + -(-history // self.ids_per_beat),
                "aggregation": FRONT_CYCLES + agg.cycles(history),
                "mlp_layer0": first.sf * first.nf + first.pipeline_depth,
                "mlp_rest": sum((y.nf - 1) * y.sf + y.sf + y.pipeline_depth for y in layers[1:]),
                "scorer_rows": scorer.rows(live), "topk_merge": self.topk.merge_cycles(),
                "ideal_macs": {"aggregation_adds": ids * agg.feature_dim,
                               "mlp": sum(y.mw * y.mh for y in layers),
                               "scores": live * scorer.out_dim},
                "mlp_exp_cycles": [y.exp_cycles for y in layers]}

    def query_cycles(self, history: int, n_items: int | None = None) -> int:
        """The sum of :meth:`cycle_model`'s stages, for ``n_items`` live items (default: the capacity)."""
        model = self.cycle_model(history, n_items)
        return int(model["aggregation"] + model["mlp_layer0"] + model["mlp_rest"] + model["scorer_rows"]
                   + model["topk_merge"])

    # -- the shape and the model image ---------------------------------------------------------------------
    @property
    def shape_key(self) -> str:
        return protocol.shape_key(self.parameters())

    def load_bus(self) -> LoadBus:
        """The memories' widths and depths in load order, and each block's first memory index."""
        blocks = [self.hist_agg.memory_shapes(), *(memory_shapes(layer) for layer in self.layers),
                  self.scorer.memory_shapes()]
        bases = np.cumsum([0] + [len(b) for b in blocks]).tolist()
        return LoadBus(bases[0], tuple(bases[1:-2]), bases[-2], tuple(shape for b in blocks for shape in b))

    def memories(self, params: KernelParams) -> list[Memory]:
        """Every writable memory of the kernel with ``params``' contents, in load order (docs/model-image.md)."""
        found = self.hist_agg.memories(params.features)
        for layer, w, t in zip(self.layers, params.weights, params.thresholds, strict=True):
            found += memories(layer, w, t)
        return found + self.scorer.memories(params.items)

    def model_image(self, params: KernelParams, checkpoint_sha256: str | None = None) -> protocol.ModelImage:
        """``params`` as the kernel loads it; refuses a model that is not of this shape."""
        if params.n_items > self.hist_agg.n_items:
            raise FoldingError(f"the model has {params.n_items} items; this kernel holds at most "
                               f"{self.hist_agg.n_items} (n_items_max)")
        if params.k != self.topk.k:
            raise FoldingError(f"the model is compiled for k={params.k}, the kernel returns {self.topk.k}")
        return protocol.ModelImage.build(self.shape_key, params.n_items, self.hist_agg.n_items,
                                         self.memories(params), checkpoint_sha256)

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

