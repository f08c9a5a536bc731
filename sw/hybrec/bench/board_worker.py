"""The board side of the HIL benchmark: the PYNQ driver (:class:`hybrec.driver.KernelDriver`) runs the queries
on the simulated device (``sim``) or on a real board (``pynq``) and the answers and timings go to one ``.npz``.

Imports numpy, the standard library, hybrec's ground floor and :mod:`hybrec.driver` (numpy + pynq) only, so it
runs in the board-like environment (``.venv-board``) and in a PYNQ board's own Python, with ``sw/`` on
``PYTHONPATH``::

    python -m hybrec.bench.board_worker sim  --build BUILD --queries Q.npz --out R.npz
    python -m hybrec.bench.board_worker pynq --bitfile hybrec.bit --bitstream-manifest M.json \\
        --build-manifest BUILD/manifest.json [--image BUILD/model/model.img] --queries Q.npz --out R.npz

``Q.npz``: the queries as :class:`hybrec.builddir.Queries` (histories and exclusion lists; no dataset ids).

First the build's model image is loaded through the DMA (the kernel holds no model before): ``info["load"]``
gives its size and the time it took (sim: simulated cycles from its first input beat to its status answer's
last beat; pynq: the driver's host wall clock). Then latency mode: every query alone (``pipelined=False``: the
next query is sent after the previous answer), which gives the answers written to ``R.npz`` and, per query,
``latency_cycles`` (sim: first input beat to last output beat, from the simulated device's cycle records) or
``latency_s`` (pynq: the driver's host wall clock from starting the query's input transfer to the end of its
output transfer). Then, per batch size ``B``, the queries in chunks of ``B`` sent back to back
(``pipelined=True``): ``batch<B>_cycles`` (first input beat of the chunk to its last output beat) or
``batch<B>_s`` (the driver's wall clock for the chunk), and the number of answers that differ from the latency
run's. ``info`` (JSON): what ran where, and (sim) the driver's DMA register accesses per query as the
simulated device logged them. Progress lines go to stdout (``progress DONE TOTAL``).
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.artifacts import atomic_write_bytes
from hybrec.builddir import Queries

EXIT_NOT_A_BOARD = 3
NOT_A_BOARD = "board_worker pynq: not on a PYNQ board"   # the first words of that message (hybrec hil reads it)


def write_queries(path: Path, histories: list[np.ndarray], excludes: list[np.ndarray] | None = None) -> Path:
    """``Q.npz`` for this worker."""
    Queries(histories, [], [], excludes).save(path)
    return path


def _progress(done: int, total: int) -> None:
    print(f"progress {done} {total}", flush=True)


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _answers(results: Any) -> dict[str, np.ndarray]:
    return {"ids": np.asarray(results.ids, dtype=np.int64), "scores": np.asarray(results.scores, dtype=np.int64),
            "valid": np.asarray(results.valid, dtype=bool), "flags": np.asarray(results.flags, dtype=np.int64)}


def _differ(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> int:
    return int(((a["ids"] != b["ids"]) | (a["scores"] != b["scores"])).any(axis=1).sum())


def run_sim(args: argparse.Namespace, histories: list[np.ndarray],
            excludes: list[np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from hybrec.driver import KernelDriver  # lazy: pynq is only in the board environment, not where hil imports this
    from hybrec.driver.simdevice import SimDevice  # lazy: pynq, as above

    dev = SimDevice.from_build(args.build, seed=args.seed, source_pause=0.0, sink_pause=0.0)
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {"mode": "sim", "device": dev.name, "build": str(args.build),
                            "build_id": dev.manifest.get("build_id"),
                            "model_library": str(Path(args.build) / "sim" / "model" / "libkernel.so"),
                            "stream_pauses": 0.0,
                            "host_in_simulation": "modelled as infinitely fast by the simulated device (simulated "
                                                  "cycles pass only while a transfer is in flight)"}
    total = len(histories) * (1 + len(args.batches))
    done = 0
    started = time.perf_counter()
    with dev.activate():
        driver = KernelDriver(dev.dma(), dev.manifest, timeout_s=args.timeout_s)
        assert dev.image_path is not None
        load = driver.load_model(dev.image_path)
        info["load"] = {"words": load.words, "bytes": 4 * load.words, "n_items": load.n_items,
                        "cycles": int(dev.records().load_cycles()[-1]), "host_seconds_simulating": load.seconds,
                        "s1": load.status.s1, "s2": load.status.s2}
        # One throwaway run of the largest batch first, so that the driver allocates its DMA buffers once, at
        # their largest: SimDevice.allocate numbers buffers len(live buffers) + 1, so after the driver frees a
        # smaller buffer a re-allocated one can take the number of a live one and flushes land in the wrong
        # buffer (seen: every answer of a 256-query run after 32-query runs was wrong). A board's pynq.allocate
        # has no such numbering; the answers of every run below are still compared with each other.
        warm = max([32, *args.batches])
        driver.run(histories[:warm], excludes[:warm], pipelined=True)
        # latency mode: each query alone, in chunks only to report progress
        dev.register_log = []
        parts, cycles = [], []
        for s, e in _chunks(len(histories), 32):
            before = dev.records().packets
            results = driver.run(histories[s:e], excludes[s:e], pipelined=False)
            cycles.append(dev.records().since(before).latency())
            parts.append(_answers(results))
            done += e - s
            _progress(done, total)
        log = dev.register_log
        dev.register_log = None
        answers = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        arrays.update(answers)
        arrays["latency_cycles"] = np.concatenate(cycles)
        if arrays["latency_cycles"].size != len(histories):
            raise RuntimeError(f"{arrays['latency_cycles'].size} cycle records for {len(histories)} queries")
        info["registers_per_query"] = {"writes": sum(1 for r in log if r[0] == "w") / len(histories),
                                       "reads": sum(1 for r in log if r[0] == "r") / len(histories)}
        info["latency_seconds"] = round(time.perf_counter() - started, 1)
        info["batches"] = {}
        for batch in args.batches:
            t0 = time.perf_counter()
            chunk_cycles, chunk_ii, parts = [], [], []
            for s, e in _chunks(len(histories), batch):
                before = dev.records().packets
                results = driver.run(histories[s:e], excludes[s:e], pipelined=True)
                rec = dev.records().since(before).queries()
                chunk_cycles.append(int(rec.out_last[-1] - rec.in_first[0] + 1))
                chunk_ii.extend(rec.intervals().tolist())
                parts.append(_answers(results))
                done += e - s
                _progress(done, total)
            arrays[f"batch{batch}_cycles"] = np.asarray(chunk_cycles, dtype=np.int64)
            arrays[f"batch{batch}_queries"] = np.asarray([e - s for s, e in _chunks(len(histories), batch)])
            got = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
            info["batches"][str(batch)] = {
                "differ_from_latency_run": _differ(got, answers),
                "interval_cycles_median": float(np.median(chunk_ii)) if chunk_ii else None,
                "seconds": round(time.perf_counter() - t0, 1)}
    info["cycle"] = dev.cycle
    info["seconds"] = round(time.perf_counter() - started, 1)
    return arrays, info


def run_pynq(args: argparse.Namespace, histories: list[np.ndarray],
             excludes: list[np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from hybrec.driver import KernelDriver  # lazy: pynq is only in the board environment, not where hil imports this

    try:
        import pynq

        devices = pynq.Device.devices
    except Exception as err:  # pynq raises plain RuntimeErrors ("No Devices Found") off a board
        raise NotABoard(f"pynq finds no device here ({type(err).__name__}: {err})") from None
    if not devices:
        raise NotABoard("pynq finds no device here (pynq.Device.devices is empty)")
    driver = KernelDriver.from_overlay(args.bitfile, args.build_manifest, args.bitstream_manifest,
                                       dma_name=args.dma_name, timeout_s=args.timeout_s)
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {"mode": "pynq", "device": str(getattr(devices[0], "name", devices[0])),
                            "bitfile": str(args.bitfile), "pynq": getattr(pynq, "__version__", "?")}
    total = len(histories) * (1 + len(args.batches))
    done = 0
    started = time.perf_counter()
    image = args.image or Path(args.build_manifest).parent / "model" / "model.img"
    with driver:
        load = driver.load_model(image)
        info["load"] = {"image": str(image), "words": load.words, "bytes": 4 * load.words, "n_items": load.n_items,
                        "seconds": load.seconds, "s1": load.status.s1, "s2": load.status.s2}
        warm = max([32, *args.batches])
        driver.run(histories[:warm], excludes[:warm], pipelined=True)  # buffers allocated once, at their largest
        for _ in range(args.warmup):
            driver.run(histories[:1], excludes[:1], pipelined=False)
        parts, latency = [], []
        for s, e in _chunks(len(histories), 32):
            results = driver.run(histories[s:e], excludes[s:e], pipelined=False)
            latency.append(np.asarray(results.latency_s, dtype=np.float64))
            parts.append(_answers(results))
            done += e - s
            _progress(done, total)
        answers = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        arrays.update(answers)
        arrays["latency_s"] = np.concatenate(latency)
        info["batches"] = {}
        for batch in args.batches:
            walls, parts = [], []
            for s, e in _chunks(len(histories), batch):
                results = driver.run(histories[s:e], excludes[s:e], pipelined=True)
                walls.append(float(results.wall_s))
                parts.append(_answers(results))
                done += e - s
                _progress(done, total)
            arrays[f"batch{batch}_s"] = np.asarray(walls)
            arrays[f"batch{batch}_queries"] = np.asarray([e - s for s, e in _chunks(len(histories), batch)])
            got = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
            info["batches"][str(batch)] = {"differ_from_latency_run": _differ(got, answers)}
    info["seconds"] = round(time.perf_counter() - started, 1)
    return arrays, info


class NotABoard(RuntimeError):
    """pynq finds no device: this is not a PYNQ board."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("sim", "pynq"):
        p = sub.add_parser(name)
        p.add_argument("--queries", type=Path, required=True)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--batches", type=int, nargs="*", default=[16, 256])
        p.add_argument("--timeout-s", type=float, default=10.0)
        if name == "sim":
            p.add_argument("--build", type=Path, required=True)
            p.add_argument("--seed", type=int, default=1)
        else:
            p.add_argument("--bitfile", type=Path, required=True)
            p.add_argument("--bitstream-manifest", type=Path, required=True)
            p.add_argument("--build-manifest", type=Path, required=True)
            p.add_argument("--image", type=Path, default=None,
                           help="the model image (default: model/model.img beside the build manifest)")
            p.add_argument("--dma-name", default="axi_dma_0")
            p.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    queries = Queries.load(args.queries)
    histories, excludes = queries.histories, queries.exclusion_lists()
    try:
        arrays, info = (run_sim(args, histories, excludes) if args.mode == "sim"
                        else run_pynq(args, histories, excludes))
    except NotABoard as err:
        print(f"{NOT_A_BOARD}: {err}. Run this on the board (its own Python, with sw/ on "
              "PYTHONPATH) and pass the .npz it writes to `hybrec hil --pynq-results`.", file=sys.stderr)
        return EXIT_NOT_A_BOARD
    info.update({"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
                 "host": platform.node(), "platform": platform.platform(), "queries": len(histories),
                 "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    arrays["info"] = np.frombuffer(json.dumps(info).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
