"""Early stopping on validation NDCG@K (the run's ``eval.k``), shared by every training loop of ``hybrec.train``.

Every ``eval_every`` epochs a loop asks :meth:`BestOnValidation.evaluate`; the state with the best score
is kept (a deep copy: later steps change the live tensors), and the loop stops once ``patience``
evaluations in a row have not beaten it. :meth:`finish` puts the best state back. The training log names
the score after K (``valid_ndcg@K``, ``best_valid_ndcg@K``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from hybrec.eval.run_keys import valid_key


class BestOnValidation:
    def __init__(self, model: nn.Module, patience: int, k: int = 10) -> None:
        self.model = model
        self.key = valid_key(k)
        self.patience = patience
        self.best_score = -1.0
        self.best_epoch = 0
        self.best_state = copy.deepcopy(model.state_dict())
        self.waited = 0
        self.log: list[dict[str, float]] = []

    def evaluate(self, epoch: int, mean_loss: float, validate: Callable[[Any], float], bar: Any) -> bool:
        """Validate the model now; True when the loop should stop."""
        self.model.eval()
        with torch.no_grad():
            score = validate(self.model)
        self.log.append({"epoch": epoch, "loss": mean_loss, self.key: score})
        bar.set_postfix(loss=f"{mean_loss:.4f}", valid_ndcg=f"{score:.4f}")
        if score > self.best_score:
            self.best_score, self.best_epoch, self.waited = score, epoch, 0
            self.best_state = copy.deepcopy(self.model.state_dict())
            return False
        self.waited += 1
        return self.waited >= self.patience

    def finish(self) -> dict[str, object]:
        """Restore the best state (in eval mode); the training summary every loop returns."""
        self.model.load_state_dict(self.best_state)
        self.model.eval()
        return {"best_epoch": self.best_epoch, f"best_{self.key}": self.best_score, "log": self.log}
