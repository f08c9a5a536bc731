"""Golden test vectors: queries (packets of item ids, as the kernel receives them) and the golden model's
answers, written as ``BUILD/vectors/golden.npz``.

Arrays: ``ids`` (uint16 values, all packets concatenated) and ``offsets`` ``[Q + 1]``; ``topk`` /
``scores`` / ``valid`` ``[Q, K]`` (``topk`` is -1 and ``scores`` 0 where ``valid`` is 0); ``flags`` ``[Q]``;
``user`` ``[Q]`` (the user index, -1 for the constructed corner cases); ``kind`` ``[Q]`` (``user``,
``empty``, ``overlong``, ``bad_ids``, ``duplicates``, ``single``).

The first queries are one per user (their last ``lmax`` training items, the model's own input); the
corner cases follow.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from hybrec.artifacts import atomic_write_bytes, atomic_write_text
from hybrec.export.golden import GoldenModel

NO_ID = 0xFFFF  # the kernel's input is 16 bits: an id >= N is out of range, this one always


def corner_cases(histories: list[np.ndarray], n_items: int, lmax: int, seed: int = 7) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    longest = max(histories, key=len) if histories else np.zeros(0, dtype=np.int64)
    pool = np.concatenate([h for h in histories if h.size] or [np.arange(min(n_items, 8))])
    cases: list[tuple[str, np.ndarray]] = [("empty", np.array([NO_ID]))]
    overlong = np.concatenate([longest, rng.choice(pool, size=lmax + 37)])[: lmax + 37]
    cases.append(("overlong", overlong))
    bad = rng.choice(pool, size=max(3, min(lmax, 40))).astype(np.int64)
    positions = sorted({1, bad.size // 2, bad.size - 1})
    bad[positions] = [n_items, n_items + 5, NO_ID][: len(positions)]
    cases.append(("bad_ids", bad))
    dup = np.repeat(rng.choice(pool, size=6), 5)
    cases.append(("duplicates", dup))
    cases.append(("single", rng.choice(pool, size=1)))
    cases.append(("all_bad", np.array([n_items, NO_ID, n_items + 1])))
    return cases


def build_vectors(golden: GoldenModel, histories: list[np.ndarray]) -> dict[str, np.ndarray]:
    p = golden.p
    packets: list[np.ndarray] = []
    kinds: list[str] = []
    users: list[int] = []
    for user, history in enumerate(histories):
        packets.append(history if history.size else np.array([NO_ID]))
        kinds.append("user")
        users.append(user)
    for kind, ids in corner_cases(histories, p.n_items, p.lmax):
        packets.append(ids)
        kinds.append(kind)
        users.append(-1)
    packets = [np.asarray(x, dtype=np.int64) for x in packets]
    if any(x.size == 0 or x.min() < 0 or x.max() > NO_ID for x in packets):
        raise ValueError("a packet holds at least one id, each in 0..65535")
    results = golden.run(packets)
    lengths = np.array([x.size for x in packets], dtype=np.int64)
    return {
        "ids": np.concatenate(packets).astype(np.uint16),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "topk": np.stack([r.ids for r in results]),
        "scores": np.stack([r.scores for r in results]),
        "valid": np.stack([r.valid for r in results]).astype(np.uint8),
        "flags": np.array([r.flags for r in results], dtype=np.int64),
        "user": np.array(users, dtype=np.int64),
        "kind": np.array(kinds),
    }


def save_vectors(path: Path, vectors: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **vectors)  # type: ignore[arg-type]
    atomic_write_bytes(path, buffer.getvalue())


def load_vectors(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def output_words(vectors: dict[str, np.ndarray]) -> np.ndarray:
    """The kernel's 64-bit output words ``[Q, K]`` for the golden answers: ``[31:0]`` score, ``[47:32]`` id,
    ``[50:48]`` flags, ``[51]`` valid (padding: id 0xFFFF, score 0); see hw/kernel/README.md."""
    valid = vectors["valid"].astype(np.uint64)
    ids = np.where(valid == 1, vectors["topk"], 0xFFFF).astype(np.uint64)
    scores = np.where(valid == 1, vectors["scores"], 0).astype(np.int64).astype(np.uint64) & np.uint64(0xFFFFFFFF)
    flags = np.repeat(vectors["flags"].astype(np.uint64)[:, None], valid.shape[1], axis=1)
    return (valid << np.uint64(51)) | (flags << np.uint64(48)) | (ids << np.uint64(32)) | scores


def ids_per_beat(manifest: dict[str, Any]) -> int:
    """History ids per kernel input beat (``kernel.interface.ids_per_beat`` of a build manifest; 1 for
    builds made before the key existed)."""
    return int(manifest["kernel"]["interface"].get("ids_per_beat", 1))


def select_queries(vectors: dict[str, np.ndarray], users: int | None, seed: int) -> list[int]:
    """All queries, or ``users`` random user queries plus every corner case."""
    user_rows = np.flatnonzero(vectors["user"] >= 0)
    corner_rows = np.flatnonzero(vectors["user"] < 0)
    if users is not None and users < user_rows.size:
        rng = np.random.default_rng(seed)
        user_rows = np.sort(rng.choice(user_rows, size=users, replace=False))
    return [int(i) for i in np.concatenate([user_rows, corner_rows])]


def write_text_vectors(folder: Path, vectors: dict[str, np.ndarray], queries: list[int]) -> tuple[Path, Path]:
    """The text form the C++ testbenches read: ``queries.txt`` (``n id_1 .. id_n`` per query) and
    ``expected.txt`` (``K w_1 .. w_K``, the output words in decimal)."""
    words = output_words(vectors)
    offsets, ids = vectors["offsets"], vectors["ids"]
    q_lines = [f"{offsets[q + 1] - offsets[q]} " + " ".join(map(str, ids[offsets[q]: offsets[q + 1]].tolist()))
               for q in queries]
    e_lines = [f"{words.shape[1]} " + " ".join(map(str, words[q].tolist())) for q in queries]
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "queries.txt", "\n".join(q_lines) + "\n")
    atomic_write_text(folder / "expected.txt", "\n".join(e_lines) + "\n")
    return folder / "queries.txt", folder / "expected.txt"
