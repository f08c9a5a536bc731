"""A stand-in for the kernel at the level of its stream protocol (docs/model-image.md), for the driver tests that
need no RTL: it parses every packet as the kernel does (query, load, status, bad header), keeps the shape word,
the live item count, the model and the checksums of the last load, and answers queries with the golden model
of the image it holds. It knows a model's parameters only by the checksums of its image (``models``: ``{(s1,
s2): KernelParams}``), which is what a loaded image is, word for word; a load of unknown words holds no model
it can answer with, as a damaged load would.

Behind :class:`hybrec.driver.simdevice.ScriptedKernel`, so the driver reaches it through the simulated DMA.
"""

from __future__ import annotations

import numpy as np

from hybrec import protocol
from hybrec.golden import GoldenModel, KernelParams, no_model_result
from hybrec.protocol import Status


class ProtocolKernel:
    def __init__(self, shape_word: int, n_items_max: int, k: int, lmax: int,
                 models: dict[tuple[int, int], KernelParams]) -> None:
        self.shape_word, self.n_items_max, self.k, self.lmax = shape_word, n_items_max, k, lmax
        self.models = models
        self.golden: GoldenModel | None = None
        self.n_items = 0
        self.s1 = self.s2 = 0
        self.packets: list[bytes] = []   # every packet received, in order

    def status(self, code: int) -> np.ndarray:
        return Status(self.shape_word, self.n_items, code, self.golden is not None, self.s1, self.s2).words()

    def __call__(self, packet: bytes) -> np.ndarray:
        self.packets.append(packet)
        padded = packet + bytes(-len(packet) % 4)   # an odd count's last half word comes with tkeep = 0b0011
        words = np.frombuffer(padded, dtype="<u4")
        kind = int(words[0]) >> 24
        if kind == protocol.KIND_STATUS:
            return self.status(protocol.OK)
        if kind == protocol.KIND_LOAD:
            return self.load(words)
        if kind == protocol.KIND_QUERY:
            return self.query(int(words[0]) & 0xFFFF, np.frombuffer(packet[4:], dtype="<u2").astype(np.int64))
        return self.status(protocol.BAD_HEADER)

    def load(self, words: np.ndarray) -> np.ndarray:
        if words.size < 3:
            return self.status(protocol.INTERRUPTED)
        if int(words[1]) != self.shape_word:
            return self.status(protocol.WRONG_SHAPE)
        self.golden, self.n_items = None, 0
        self.s1, self.s2 = protocol.checksums(words[2:])
        n = int(words[2])
        if not 1 <= n <= self.n_items_max:
            return self.status(protocol.BAD_COUNT)
        params = self.models.get((self.s1, self.s2))
        if params is not None:
            self.golden, self.n_items = GoldenModel(params), n
        return self.status(protocol.OK)

    def query(self, n_hist: int, ids: np.ndarray) -> np.ndarray:
        history, exclude = ids[:n_hist], ids[n_hist:]
        if self.golden is None:
            r = no_model_result(history, self.k, self.lmax)
        else:
            r = self.golden.query(history, exclude)
        return protocol.result_words(r.ids[None], r.scores[None], r.valid[None], np.array([r.flags]))[0]
