"""FINN (finn-plus) front-end of the fusion MLP: QONNX -> FINN graph -> streamlining -> HW layers (MVAU with
embedded thresholds) -> folding -> FINN's analytical cycle and resource estimates.

Steps (all without Xilinx tools; see ../shared/TOOLCHAIN.md):

1. qonnx cleanup, shape and datatype inference, ``ConvertQONNXtoFINN``, ``Streamline``. The input is
   declared INT8 (the integer mean at scale 1); ``RoundAndClipThresholds`` makes every threshold an
   integer. The input quantizer becomes a MultiThreshold that is the identity on INT8: it is checked
   to be one and removed.
2. ``InferQuantizedMatrixVectorActivation``: one MVAU per layer, thresholds inside; the last layer's
   output scale stays behind as one scalar ``Mul`` (the kernel works on the integers before it).
3. ``MinimizeWeightBitWidth``, ``MinimizeAccumulatorWidth``; ``PE``/``SIMD`` from the folding;
   ``SpecializeLayers(part)``; analyses ``exp_cycles_per_layer`` and ``res_estimation``.

The HW graph is executed by FINN in python mode on the model's own inputs (every user's integer mean)
and on random ones, and compared bit for bit with the golden model (``hybrec.golden``); its
integer weights and thresholds are compared with the golden model's too. FINN builds thresholds in
float32, the golden model in float64, so a threshold can differ by one at an exact rounding boundary;
the numbers are recorded in ``finn/finn.json``, and the kernel's ROMs always hold the golden values.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.artifacts import atomic_write_json
from hybrec.compile.config import KernelConfig
from hybrec.errors import HybrecError
from hybrec.golden import GoldenModel, KernelParams


class FinnError(HybrecError):
    """FINN's graph is not what the kernel implements; the message says where they part."""


def _finn_env(work: Path) -> None:
    """FINN reads its settings and build folder from the environment (else it writes ~/.finn); unless the
    user set them, they go to ``work`` (hybrec's cache: FINN writes nothing there that a build needs)."""
    (work / "settings").mkdir(parents=True, exist_ok=True)
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FINN_SETTINGS", str(work / "settings"))
    os.environ.setdefault("FINN_BUILD_DIR", str(work / "tmp"))


def to_hw_graph(qonnx_path: Path, work: Path) -> Any:
    """The streamlined graph with MVAU nodes (see the module docstring, steps 1-2)."""
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
    from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames, RemoveStaticGraphInputs
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(str(qonnx_path)))
    for step in (InferShapes(), FoldConstants(), GiveUniqueNodeNames(), GiveReadableTensorNames(), InferDataTypes(),
                 RemoveStaticGraphInputs()):
        model = model.transform(step)
    model = model.transform(ConvertQONNXtoFINN()).transform(Streamline())
    inp = model.graph.input[0].name
    model.set_tensor_datatype(inp, DataType["INT8"])
    model = model.transform(InferDataTypes()).transform(RoundAndClipThresholds())
    model.save(str(work / "streamlined.onnx"))
    first = model.find_consumer(inp)
    if first is None or first.op_type != "MultiThreshold":
        raise FinnError(f"streamlined graph starts with {getattr(first, 'op_type', None)}, expected the input "
                        "quantizer's MultiThreshold")
    values = np.arange(-128, 128, dtype=np.float32)
    thresholds = model.get_initializer(first.input[1])
    bias = getCustomOp(first).get_nodeattr("out_bias")
    if not all(np.array_equal((values[:, None] >= row).sum(1) + bias, values) for row in thresholds):
        raise FinnError("the input quantizer's MultiThreshold is not the identity on INT8 (input scale must be 1)")
    for consumer in model.find_consumers(first.output[0]):
        consumer.input[list(consumer.input).index(first.output[0])] = inp
    model.graph.node.remove(first)
    model = model.transform(InferQuantizedMatrixVectorActivation()).transform(InferThresholdingLayer())
    model = model.transform(MinimizeWeightBitWidth()).transform(MinimizeAccumulatorWidth())
    model = model.transform(RoundAndClipThresholds()).transform(GiveUniqueNodeNames())
    kinds = [node.op_type for node in model.graph.node]
    if any(k not in ("MVAU", "Mul") for k in kinds):
        raise FinnError(f"unexpected HW graph {kinds}: the kernel wants MVAU layers with embedded thresholds")
    model.save(str(work / "hw.onnx"))
    return model


def mvau_nodes(model: Any) -> list[Any]:
    return [node for node in model.graph.node if node.op_type.startswith("MVAU")]


def finn_layers(model: Any) -> list[tuple[np.ndarray, np.ndarray, int, dict[str, Any]]]:
    """``(W [MW, MH], T [MH, n], ActVal, datatypes)`` of every MVAU, integers."""
    from qonnx.custom_op.registry import getCustomOp

    layers = []
    for node in mvau_nodes(model):
        op = getCustomOp(node)
        w = model.get_initializer(node.input[1])
        t = model.get_initializer(node.input[2])
        if not (np.array_equal(w, np.round(w)) and np.array_equal(t, np.round(t))):
            raise FinnError(f"{node.name}: non-integer weights or thresholds after streamlining")
        types: dict[str, Any] = {name: str(op.get_nodeattr(name)) for name in
                 ("inputDataType", "weightDataType", "outputDataType", "accDataType")}
        types["ActVal"] = int(op.get_nodeattr("ActVal"))
        types["MW"], types["MH"] = int(op.get_nodeattr("MW")), int(op.get_nodeattr("MH"))
        layers.append((w.astype(np.int64), t.astype(np.int64), int(op.get_nodeattr("ActVal")), types))
    return layers


def execute_batch(model: Any, x: np.ndarray) -> np.ndarray:
    """FINN's python-mode execution of the (unspecialised) HW graph on a batch, before the output ``Mul``."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.infer_shapes import InferShapes

    batch = ModelWrapper(model.model.__deepcopy__())
    n = len(x)
    for node in batch.graph.node:
        if node.domain.startswith("finn"):
            getCustomOp(node).set_nodeattr("numInputVectors", [n])
    for info in list(batch.graph.value_info) + list(batch.graph.input) + list(batch.graph.output):
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 2 and dims[0].dim_value == 1:
            dims[0].dim_value = n
    batch = batch.transform(InferShapes())
    last = mvau_nodes(batch)[-1].output[0]
    outputs = execute_onnx(batch, {batch.graph.input[0].name: np.asarray(x, dtype=np.float32)},
                           return_full_exec_context=True)
    values = np.asarray(outputs[last])
    if not np.array_equal(values, np.round(values)):
        raise FinnError("FINN's last MVAU produced non-integer values")
    return values.astype(np.int64)


def fold_and_estimate(model: Any, folding: list[tuple[int, int]], part: str, work: Path) -> dict[str, Any]:
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames

    nodes = mvau_nodes(model)
    for node, (simd, pe) in zip(nodes, folding, strict=True):
        op = getCustomOp(node)
        op.set_nodeattr("SIMD", simd)
        op.set_nodeattr("PE", pe)
    folded = model.transform(SpecializeLayers(part)).transform(GiveUniqueNodeNames())
    folded.save(str(work / "folded.onnx"))
    cycles = folded.analysis(exp_cycles_per_layer)
    resources = folded.analysis(lambda graph: res_estimation(graph, part))
    return {"part": part, "nodes": [n.op_type for n in folded.graph.node],
            "exp_cycles_per_layer": {k: int(v) for k, v in cycles.items()},
            "exp_cycles_total": int(sum(cycles.values())),
            "res_estimation": {k: {r: (float(x) if isinstance(x, float) else x) for r, x in v.items()}
                               for k, v in resources.items()}}


def run_finn_frontend(qonnx_path: Path, params: KernelParams, folding: list[tuple[int, int]], config: KernelConfig,
                      work: Path, cache_dir: Path, log: Any = print, random_inputs: int = 2000,
                      means: np.ndarray | None = None) -> dict[str, Any]:
    """Run the front-end, compare with the golden model, write ``work/finn.json`` and return its content."""
    work.mkdir(parents=True, exist_ok=True)
    _finn_env(cache_dir / "finn")
    started = time.perf_counter()
    with warnings.catch_warnings():  # qonnx: "Assuming 2D input is NC" (it is: [batch, features])
        warnings.filterwarnings("ignore", message="Assuming 2D input is NC")
        return _frontend(qonnx_path, params, folding, config, work, log, random_inputs, means, started)


def _frontend(qonnx_path: Path, params: KernelParams, folding: list[tuple[int, int]], config: KernelConfig,
              work: Path, log: Any, random_inputs: int, means: np.ndarray | None, started: float) -> dict[str, Any]:
    model = to_hw_graph(qonnx_path, work)
    layers = finn_layers(model)
    golden = GoldenModel(params)
    if len(layers) != len(params.layers):
        raise FinnError(f"FINN made {len(layers)} MVAUs of the {len(params.layers)}-layer MLP")
    compare: list[dict[str, Any]] = []
    for index, ((w, t, act, types), gw, gt, spec) in enumerate(
            zip(layers, params.weights, params.thresholds, params.layers, strict=True)):
        if w.shape != gw.shape or t.shape != gt.shape:
            raise FinnError(f"layer {index}: FINN shapes W{w.shape} T{t.shape}, golden W{gw.shape} T{gt.shape}")
        # Both clip thresholds to the accumulator range; FINN to its own (minimised) accumulator type's.
        lo, hi = spec.acc_lo, spec.acc_hi + 1
        differ = np.clip(t, lo, hi) != np.clip(gt, lo, hi)
        compare.append({**types, "weights_equal": bool(np.array_equal(w, gw)), "act_val_equal": act == spec.out_bias,
                        "thresholds_differing": int(differ.sum()), "thresholds": int(t.size),
                        "threshold_max_abs_diff": int(np.abs(np.clip(t, lo, hi) - np.clip(gt, lo, hi)).max())})
    rng = np.random.default_rng(0)
    inputs = {"random": rng.integers(-128, 128, size=(random_inputs, params.feature_dim))}
    if means is not None:
        inputs = {"user_means": means, **inputs}
    execution = {}
    for name, x in inputs.items():
        got = execute_batch(model, x)
        want = golden.mlp(x)
        execution[name] = {"vectors": len(x), "values": int(want.size),
                           "mismatching_vectors": int((got != want).any(axis=1).sum()),
                           "mismatching_values": int((got != want).sum())}
    # The same graph with the golden thresholds in place: any difference left would be FINN's datapath.
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: FINN and qonnx load only when a compile runs

    swapped = ModelWrapper(model.model.__deepcopy__())
    for node, gt in zip(mvau_nodes(swapped), params.thresholds, strict=True):
        swapped.set_initializer(node.input[2], gt.astype(np.float32))
    x = inputs["random"]
    got = execute_batch(swapped, x)
    execution["random_with_golden_thresholds"] = {"vectors": len(x),
                                                  "mismatching_vectors": int((got != golden.mlp(x)).any(axis=1).sum())}
    estimates = fold_and_estimate(model, folding, config.fpga_part, work)
    import finn
    import qonnx

    result = {"finn_plus": getattr(finn, "__version__", "1.6.1"), "qonnx": getattr(qonnx, "__version__", "?"),
              "layers": compare, "execution_vs_golden": execution, **estimates,
              "graphs": ["streamlined.onnx", "hw.onnx", "folded.onnx"],
              "seconds": round(time.perf_counter() - started, 2)}
    atomic_write_json(work / "finn.json", result)
    summary = ", ".join(f"{k}: {v['mismatching_vectors']}/{v['vectors']}" for k, v in execution.items())
    log(f"FINN: {estimates['nodes']}; exp_cycles {estimates['exp_cycles_per_layer']}; python execution vs golden "
        f"(mismatching vectors) {summary}")
    return result

