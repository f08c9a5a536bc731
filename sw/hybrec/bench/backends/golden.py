"""The golden model (numpy), the contract: its lists are the reference every other backend is compared with. Each
query is the user's history and exclusion list, as the kernel receives it."""

from __future__ import annotations

import numpy as np

from hybrec.bench.backends import TopK
from hybrec.bench.workload import Workload
from hybrec.golden import GoldenModel


def golden_lists(work: Workload) -> TopK:
    results = GoldenModel(work.params).run(work.histories, work.excludes)
    return TopK(np.stack([r.ids for r in results]), np.stack([r.scores for r in results]))
