"""The build directory of ``hybrec compile`` and the bitstream manifest of ``hybrec bitstream``, read the same
way by every stage and by the board-side driver; and where the repository keeps its own sources.

A build directory (docs/build-dir.md)::

    export/kernel.npz   the integer kernel parameters (:class:`hybrec.golden.KernelParams`)
    export/queries.npz  one query per user (:class:`Queries`)
    export/mlp.qonnx.onnx, export/export.json
    finn/               FINN's graphs and estimates
    rtl/                the kernel's Verilog and its memory files
    vectors/golden.npz  the golden test vectors (:class:`GoldenVectors`)
    manifest.json       written last (:class:`Manifest`): what the build is a function of, the kernel's
                        interface and parameters, the sha256 of every file above
    sim/ fit/ hls/ logs/  written later by `hybrec sim`, `hybrec fit`, `hybrec hls`; not in the manifest

:meth:`BuildDir.open` checks the format and (by default) every file's sha256, so a stage never works on a
build that changed under it; every refusal names the way out. Standard library and numpy (1.x or 2.x) only.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hybrec import protocol
from hybrec.artifacts import atomic_write_bytes, atomic_write_json, atomic_write_text, first_changed_file, sha256_file
from hybrec.errors import HybrecError
from hybrec.golden import KernelParams

FORMAT = "hybrec-build/2"
MANIFEST = "manifest.json"
BITSTREAM_FORMAT = "hybrec-bitstream/3"
# what Bitstream reads is in both: /2 also recorded the self-test image and rewrote its build record for the
# build of each call (/3 keeps those in build.json beside it)
BITSTREAM_READABLE = ("hybrec-bitstream/2", BITSTREAM_FORMAT)
HASHED_FOLDERS = ("export", "finn", "rtl", "model", "vectors")   # what manifest.json's ``files`` covers

REPO_ROOT = Path(__file__).resolve().parents[2]
HW_DIR = REPO_ROOT / "hw"              # the hand-written Verilog blocks and the board tops
SIM_DIR = REPO_ROOT / "sim"            # cocotb testbenches and the C++ harnesses
HLS_DIR = REPO_ROOT / "hls_kernels"    # the HLS C++ blocks
BOARDS_DIR = HW_DIR / "boards"

NO_ID = protocol.NO_ID   # the 16-bit id that is out of range for every kernel
SIM_MODEL_LIB = "libkernel.so"


class BuildDirError(HybrecError):
    """Not a (finished, intact, current) build directory; the message says what to run."""


# ---------------------------------------------------------------------------------------------- manifest
@dataclass(frozen=True)
class Interface:
    """The kernel's AXI4-Stream ports: ``in_bits`` (``ids_per_beat`` ids of ``id_bits``), ``out_bits``."""

    in_bits: int
    out_bits: int
    ids_per_beat: int
    id_bits: int = 16

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Interface:
        ipb = int(d.get("ids_per_beat", 1))
        return cls(in_bits=int(d.get("in_bits", d.get("s_axis_tdata", 16 * ipb))),
                   out_bits=int(d.get("out_bits", d.get("m_axis_tdata", 64))), ids_per_beat=ipb,
                   id_bits=int(d.get("id_bits", 16)))


@dataclass(frozen=True)
class Kernel:
    """``manifest.kernel``: the top, its files, its interface, every hardware parameter, the cycle model."""

    top: str
    sources: tuple[str, ...]
    memory_files: tuple[str, ...]
    interface: Interface
    parameters: dict[str, Any]
    folding: tuple[dict[str, Any], ...]
    cycle_model: dict[str, Any]
    mem_dir_parameter: str = "MEM_DIR"
    shape: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return int(self.parameters["k"])

    @property
    def n_items(self) -> int:
        """The item capacity (``n_items_max``); the model image holds the live count."""
        return int(self.parameters["n_items"])

    @property
    def shape_key(self) -> str:
        return str(self.shape.get("key", ""))

    @property
    def lmax(self) -> int:
        return int(self.parameters["lmax"])

    @property
    def lanes(self) -> int:
        return int(self.parameters["lanes"])


@dataclass(frozen=True)
class Source:
    """Where the build's model came from: the run directory, variant, seed and checkpoint."""

    run_dir: str
    variant: str
    seed: int
    checkpoint: str
    checkpoint_sha256: str
    config_sha256: str


@dataclass(frozen=True)
class Manifest:
    """``manifest.json`` of a finished build (format :data:`FORMAT`); ``raw`` is the whole JSON object."""

    build_id: str
    inputs: dict[str, Any]
    source: Source
    kernel: Kernel
    vectors_file: str
    files: dict[str, str]
    finn: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, raw: dict[str, Any], where: str = MANIFEST) -> Manifest:
        if raw.get("format") != FORMAT:
            raise BuildDirError(f"{where}: format {raw.get('format')!r}, this hybrec reads {FORMAT}: a build of "
                                "another hybrec version; compile it again (`hybrec compile ... --force`)")
        try:
            k = raw["kernel"]
            kernel = Kernel(top=str(k["top"]), sources=tuple(k["sources"]), memory_files=tuple(k["memory_files"]),
                            interface=Interface.from_json(k.get("interface") or {}),
                            parameters=dict(k["parameters"]), folding=tuple(k.get("folding", ())),
                            cycle_model=dict(k.get("cycle_model", {})),
                            mem_dir_parameter=str(k.get("mem_dir_parameter", "MEM_DIR")),
                            shape=dict(k.get("shape") or {}))
            s = raw["source"]
            source = Source(run_dir=str(s["run_dir"]), variant=str(s["variant"]), seed=int(s["seed"]),
                            checkpoint=str(s["checkpoint"]), checkpoint_sha256=str(s["checkpoint_sha256"]),
                            config_sha256=str(s["config_sha256"]))
            return cls(build_id=str(raw["build_id"]), inputs=dict(raw["inputs"]), source=source, kernel=kernel,
                       vectors_file=str(raw["vectors"]["file"]), files=dict(raw["files"]),
                       finn=dict(raw.get("finn") or {}), raw=raw)
        except (KeyError, TypeError, ValueError) as err:
            raise BuildDirError(f"{where}: a damaged manifest (missing or bad {err}); compile again "
                                "(`hybrec compile ... --force`)") from None

    def kernel_files(self) -> dict[str, str]:
        """The kernel's own files (``rtl/``: Verilog and memory files) with their sha256."""
        return {name: digest for name, digest in self.files.items() if name.startswith("rtl/")}


def read_manifest_file(path: Path) -> Manifest:
    """A manifest read on its own (the driver on a board gets only this file), without checking files."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BuildDirError(f"{path}: no such file (a build's manifest.json; run `hybrec compile`)") from None
    except ValueError as err:
        raise BuildDirError(f"{path}: not JSON ({err}); compile the build again") from None
    return Manifest.from_json(raw, str(path))


def hash_files(root: Path, folders: Iterable[str] = HASHED_FOLDERS) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root/<folder>`` (what a manifest's ``files`` holds)."""
    files = {}
    for folder in folders:
        for file in sorted((root / folder).rglob("*")):
            if file.is_file():
                files[str(file.relative_to(root))] = sha256_file(file)
    return files


def write_manifest(root: Path, manifest: dict[str, Any]) -> Manifest:
    """Check ``manifest`` (as :class:`Manifest` reads it) and write it into ``root``, last and atomically."""
    parsed = Manifest.from_json({"format": FORMAT, **manifest}, str(root / MANIFEST))
    atomic_write_json(root / MANIFEST, parsed.raw)
    return parsed


# ---------------------------------------------------------------------------------------------- the directory
class BuildDir:
    """A finished build directory; :meth:`open` it."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> BuildDir:
        """The build in ``path``; with ``verify``, every file the manifest lists must have its sha256."""
        root = Path(path).resolve()
        if not (root / MANIFEST).is_file():
            hint = "it is not a hybrec build, or its compile did not finish" if root.is_dir() else "no such folder"
            raise BuildDirError(f"{path}: no {MANIFEST} ({hint}); run `hybrec compile --run RUN --out {path}`")
        build = cls(root, read_manifest_file(root / MANIFEST))
        if verify and (changed := first_changed_file(root, build.manifest.files)) is not None:
            raise BuildDirError(f"{changed}: missing or changed since the build (sha256 mismatch); rebuild it with "
                                f"`hybrec compile --run RUN --out {path} --force`")
        return build

    @property
    def build_id(self) -> str:
        return self.manifest.build_id

    @property
    def kernel(self) -> Kernel:
        return self.manifest.kernel

    @property
    def rtl_dir(self) -> Path:
        return self.path / "rtl"

    @property
    def export_dir(self) -> Path:
        return self.path / "export"

    @property
    def sim_dir(self) -> Path:
        return self.path / "sim"

    @property
    def fit_dir(self) -> Path:
        return self.path / "fit"

    @property
    def hls_dir(self) -> Path:
        return self.path / "hls"

    @property
    def log_dir(self) -> Path:
        """Where the later stages' tool logs go (``BUILD/logs``)."""
        return self.path / "logs"

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def sources(self) -> list[Path]:
        return [self.path / s for s in self.kernel.sources]

    @property
    def memory_files(self) -> list[Path]:
        return [self.path / m for m in self.kernel.memory_files]

    @property
    def top_source(self) -> Path | None:
        """The top module's file among the sources (None in a damaged manifest)."""
        return next((p for p in self.sources if p.stem == self.kernel.top), None)

    def mem_dir_value(self) -> str:
        """The top's memory-folder parameter for a tool that reads the ROM files from ``rtl/`` where it is."""
        return f"{self.rtl_dir}/"

    def manifest_sha256(self) -> str:
        return sha256_file(self.manifest_path)

    def kernel_params(self) -> KernelParams:
        return KernelParams.load(self.export_dir / "kernel.npz")

    def queries(self) -> Queries:
        return Queries.load(self.export_dir / "queries.npz")

    def vectors(self) -> GoldenVectors:
        return GoldenVectors.load(self.path / self.manifest.vectors_file)

    @property
    def image_path(self) -> Path:
        return self.path / str(self.manifest.raw.get("image", {}).get("file", "model/model.img"))

    def model_image(self) -> protocol.ModelImage:
        """The build's model image, checked against the build's shape."""
        image = protocol.ModelImage.read(self.image_path)
        image.check_fits(self.kernel.shape_key, self.kernel.n_items, f"build {self.build_id}")
        return image

    def sim_model(self) -> tuple[Path | None, str]:
        """``sim/model/libkernel.so`` (the Verilated kernel of `hybrec sim --shared-lib`, which the simulated
        PYNQ device loads) if it is there, intact, of this build and reading this build's memory files; else
        None and why not, with the command that builds it."""
        folder = self.sim_dir / "model"
        lib, info_path = folder / SIM_MODEL_LIB, folder / "model.json"
        hint = f"build it with `hybrec sim --build {self.path} --shared-lib`"
        if not lib.is_file() or not info_path.is_file():
            return None, f"no kernel model library in {folder}; {hint}"
        info = json.loads(info_path.read_text())
        if sha256_file(lib) != info.get("sha256"):
            return None, f"{lib} does not match its model.json (sha256); {hint}"
        if info.get("build_id") != self.build_id or info.get("mem_dir") != self.mem_dir_value():
            return None, f"{lib} was built for build {info.get('build_id')} in {info.get('mem_dir')}; {hint}"
        return lib, ""

    def fit_report(self, target: str) -> dict[str, Any] | None:
        """``fit/<target>.json`` of `hybrec fit`, if it ran."""
        path = self.fit_dir / f"{target}.json"
        return json.loads(path.read_text()) if path.is_file() else None


# ---------------------------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class Queries:
    """``export/queries.npz``: one query per user of the dataset (kernel item indices) and the dataset's ids.

    ``histories``: the model's input (the last ``lmax`` training items by time); ``excludes``: the user's
    other training and validation items (sorted, without the history's), which a served answer leaves out as
    the evaluation protocol does (empty lists when not given)."""

    histories: list[np.ndarray]
    user_ids: list[str]
    item_ids: list[str]
    excludes: list[np.ndarray] | None = None

    def exclusion_lists(self) -> list[np.ndarray]:
        return self.excludes if self.excludes is not None else [np.zeros(0, dtype=np.int64)] * len(self.histories)

    def save(self, path: Path) -> None:
        def flat(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            lengths = np.array([x.size for x in lists], dtype=np.int64)
            ids = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, dtype=np.int64)
            return ids, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

        ids, offsets = flat(self.histories)
        ex_ids, ex_offsets = flat(self.exclusion_lists())
        buffer = io.BytesIO()
        np.savez_compressed(buffer, ids=ids, offsets=offsets, exclude_ids=ex_ids, exclude_offsets=ex_offsets,
                            user_ids=np.array(self.user_ids), item_ids=np.array(self.item_ids))
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Queries:
        def split(ids: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
            ids = ids.astype(np.int64)
            return [ids[offsets[i]: offsets[i + 1]] for i in range(offsets.size - 1)]

        with np.load(path) as data:
            excludes = split(data["exclude_ids"], data["exclude_offsets"]) if "exclude_ids" in data else None
            return cls(split(data["ids"], data["offsets"]), [str(u) for u in data["user_ids"]],
                       [str(i) for i in data["item_ids"]], excludes)


# ---------------------------------------------------------------------------------------------- golden vectors
@dataclass(frozen=True)
class GoldenVectors:
    """``vectors/golden.npz``: queries as the kernel receives them and the golden model's answers.

    ``ids`` (uint16, every query's ids concatenated: its history, then its exclusion list), ``offsets [Q + 1]``,
    ``n_hist [Q]`` (how many of a query's ids are history); ``topk`` / ``scores`` / ``valid`` ``[Q, K]``
    (``topk`` -1 and ``scores`` 0 where ``valid`` is 0); ``flags [Q]``; ``user [Q]`` (the user index, -1 for the
    constructed corner cases); ``kind [Q]`` (``user``, ``empty``, ``overlong``, ``bad_ids``, ...). The user
    queries come first, the corner cases after them. The answers are those of the build's model image."""

    ids: np.ndarray
    offsets: np.ndarray
    n_hist: np.ndarray
    topk: np.ndarray
    scores: np.ndarray
    valid: np.ndarray
    flags: np.ndarray
    user: np.ndarray
    kind: np.ndarray

    @classmethod
    def load(cls, path: Path) -> GoldenVectors:
        with np.load(path) as data:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{name: getattr(self, name) for name in self.__dataclass_fields__})
        atomic_write_bytes(path, buffer.getvalue())

    @property
    def n_queries(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def k(self) -> int:
        return int(self.topk.shape[1])

    def packet(self, q: int) -> np.ndarray:
        """Query ``q``'s ids (history, then exclusion list)."""
        return self.ids[self.offsets[q]: self.offsets[q + 1]]

    def history(self, q: int) -> np.ndarray:
        return self.packet(q)[: int(self.n_hist[q])].astype(np.int64)

    def exclusion(self, q: int) -> np.ndarray:
        return self.packet(q)[int(self.n_hist[q]):].astype(np.int64)

    def query_units(self, q: int) -> np.ndarray:
        """Query ``q`` as it is sent: 16-bit units, the header word first (:func:`hybrec.protocol.query_units`)."""
        return protocol.query_units(self.history(q), self.exclusion(q))

    def user_rows(self) -> np.ndarray:
        return np.flatnonzero(self.user >= 0)

    def corner_rows(self) -> np.ndarray:
        return np.flatnonzero(self.user < 0)

    def longest_user_query(self) -> int:
        rows = self.user_rows()
        return int(rows[np.argmax(np.diff(self.offsets)[rows])])

    def select(self, users: int | None, seed: int) -> list[int]:
        """All queries, or ``users`` random user queries plus every corner case."""
        user_rows = self.user_rows()
        if users is not None and users < user_rows.size:
            user_rows = np.sort(np.random.default_rng(seed).choice(user_rows, size=users, replace=False))
        return [int(i) for i in np.concatenate([user_rows, self.corner_rows()])]

    def output_words(self) -> np.ndarray:
        """The kernel's 64-bit result words ``[Q, K]`` of the golden answers (:func:`hybrec.protocol.result_words`)."""
        return protocol.result_words(self.topk, self.scores, self.valid, self.flags)

    def text_lines(self, queries: list[int], image: protocol.ModelImage | None) -> tuple[list[str], list[str]]:
        """The text form the C++ testbenches read, one packet per line: ``n u_1 .. u_n`` (the packet's 16-bit
        units, the header word's low half first) and ``m w_1 .. w_m`` (the 64-bit words that answer it,
        decimal). With ``image``, the first packet loads it (answered by the status words of a complete load)."""
        words = self.output_words()
        p_lines, e_lines = [], []

        def line(values: np.ndarray) -> str:
            return f"{values.size} " + " ".join(map(str, values.tolist()))

        if image is not None:
            s1, s2 = image.checksums
            status = protocol.Status(image.shape_word, image.n_items, protocol.OK, True, s1, s2)
            p_lines.append(line(image.packet_units()))
            e_lines.append(line(status.words()))
        for q in queries:
            p_lines.append(line(self.query_units(q)))
            e_lines.append(line(words[q]))
        return p_lines, e_lines

    def write_text(self, folder: Path, queries: list[int], image: protocol.ModelImage | None) -> tuple[Path, Path]:
        """:meth:`text_lines` as ``packets.txt`` and ``expected.txt`` in ``folder``."""
        return write_packet_files(folder, *self.text_lines(queries, image))


def write_packet_files(folder: Path, packets: list[str], expected: list[str]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "packets.txt", "\n".join(packets) + "\n")
    atomic_write_text(folder / "expected.txt", "\n".join(expected) + "\n")
    return folder / "packets.txt", folder / "expected.txt"


# ---------------------------------------------------------------------------------------------- bitstreams
@dataclass(frozen=True)
class Bitstream:
    """A bitstream folder's ``manifest.json`` (format :data:`BITSTREAM_FORMAT`, written by `hybrec bitstream`)."""

    path: Path                      # the manifest file
    target: str
    device: str
    build_id: str                   # the build it was made from
    kernel_files: dict[str, str]    # the rtl/ files (and sha256) of the kernel it was built from
    shape_key: str                  # the kernel shape it holds
    shape_word: str
    fmax_mhz: float | None          # post-route; None where the flow does not report one (Vivado, for now)
    timing_met: bool | None
    constraint_mhz: float | None
    bitstream_file: Path
    bitstream_sha256: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def read(cls, path: str | Path) -> Bitstream:
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise BuildDirError(f"{path}: not a readable bitstream manifest ({err}); run `hybrec bitstream`") from None
        if raw.get("format") not in BITSTREAM_READABLE:
            raise BuildDirError(f"{path}: format {raw.get('format')!r}, this hybrec reads "
                                f"{' and '.join(BITSTREAM_READABLE)}; "
                                "build the bitstream again (`hybrec bitstream`)")
        try:
            build = raw["build"]
            return cls(path=path, target=str(raw["target"]), device=str(raw["device"]),
                       build_id=str(build["build_id"]), kernel_files=dict(build.get("kernel_files") or {}),
                       shape_key=str(raw["shape"]["key"]), shape_word=str(raw["shape"].get("word", "")),
                       fmax_mhz=None if raw.get("fmax_mhz") is None else float(raw["fmax_mhz"]),
                       timing_met=None if raw.get("timing_met") is None else bool(raw["timing_met"]),
                       constraint_mhz=(raw.get("clock") or {}).get("constraint_mhz"),
                       bitstream_file=path.parent / raw["bitstream"]["file"],
                       bitstream_sha256=str(raw["bitstream"]["sha256"]), raw=raw)
        except (KeyError, TypeError, ValueError) as err:
            raise BuildDirError(f"{path}: a damaged bitstream manifest (missing or bad {err})") from None

    def matches(self, build: BuildDir) -> str | None:
        """How this bitstream relates to ``build``: ``same build``, ``same shape`` (another model of the same
        kernel shape and kernel files: the bitstream runs it once its model image is loaded), or None (another
        shape, or other kernel files). The bitstream holds the shape, never the model."""
        mine = build.manifest.kernel_files()
        if self.shape_key != build.kernel.shape_key or (self.kernel_files and mine and self.kernel_files != mine):
            return None
        return "same build" if self.build_id == build.build_id else "same shape"
