"""When a training stops early: `patience` epochs after validation last improved, never before `min_epochs`.

    rule = EarlyStop(patience=5, min_loss_improvement=0.02, min_epochs=20)
    for epoch, (accuracy, loss) in enumerate(zip(val_accuracy, val_loss), start=1):
        rule.update(epoch, accuracy, loss)
        if rule.should_stop(epoch):
            break

Validation improves when its accuracy reaches a new maximum, or when its loss falls below
(1 - min_loss_improvement) times the lowest loss so far. The loss matters: on 90 validation drawings the
accuracy reaches 100% well before the network handles drawings unlike its training set (measured: stopping
on accuracy alone cost 0.7 percentage points on held-out drawings; see config.RECIPES), while the loss keeps
falling as long as the network still learns. Even the loss on 90 drawings flattens (epoch 14-17 of the default
recipe) while averaged weights keep improving on drawings unlike the training set for ten epochs more (see
config.RECIPES): `min_epochs` is a floor under which no run stops (Keras' EarlyStopping has `start_from_epoch`
for the same purpose).

The trainer's watcher applies this rule, and `estimate` replays it on a finished run's history: one rule,
plain Python, no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class EarlyStop:
    """The early-stopping rule and its state.

    Attributes:
        patience: epochs without improvement before stopping (0: never stop early).
        min_loss_improvement: the relative fall of the validation loss that counts as an improvement
            (0: the loss is ignored; only a new maximum of the accuracy counts).
        min_epochs: no stop before this epoch (0 or 1: any epoch).
        best_accuracy, lowest_loss: the best values so far.
        last_improvement: the 1-based epoch of the last improvement (0 before any).
    """

    patience: int
    min_loss_improvement: float = 0.0
    min_epochs: int = 0
    best_accuracy: float = -math.inf
    lowest_loss: float = math.inf
    last_improvement: int = 0

    def update(self, epoch: int, accuracy: float, loss: float) -> bool:
        """Record epoch `epoch`'s validation accuracy and loss; True when it improved."""
        improved = accuracy > self.best_accuracy or (
            bool(self.min_loss_improvement) and math.isfinite(loss)
            and loss < self.lowest_loss * (1 - self.min_loss_improvement)
        )
        self.best_accuracy = max(self.best_accuracy, accuracy)
        if math.isfinite(loss):
            self.lowest_loss = min(self.lowest_loss, loss)
        if improved:
            self.last_improvement = epoch
        return improved

    def should_stop(self, epoch: int) -> bool:
        """True when `patience` epochs have passed since the last improvement and `epoch` has reached
        `min_epochs` (never without patience)."""
        return bool(self.patience) and epoch >= self.min_epochs and epoch - self.last_improvement >= self.patience

    def reason(self) -> str:
        """Why it stopped, in one sentence (for the history)."""
        what = ("validation accuracy had not risen" if not self.min_loss_improvement else
                f"validation accuracy had not risen nor its loss fallen by {self.min_loss_improvement:.0%}")
        floor = f", and at least {self.min_epochs} epochs had run" if self.min_epochs > 1 else ""
        return f"{what} for {self.patience} epochs (last improvement at epoch {self.last_improvement}){floor}"


def keeps(accuracy: float, loss: float, best_accuracy: float, best_loss: float, prefer_later: bool) -> bool:
    """Whether an epoch of validation `accuracy` and `loss` replaces the best so far as the one to keep: a higher
    accuracy, or the same with a lower loss (`prefer_later`: the same accuracy is enough, so the latest of equal
    epochs is kept, as suits averaged weights). A non-finite loss is never kept."""
    better = accuracy > best_accuracy or (accuracy == best_accuracy and (prefer_later or loss < best_loss))
    return better and math.isfinite(loss)


def replay(val_accuracy: Sequence[float], val_loss: Sequence[float] | None, patience: int,
           min_loss_improvement: float = 0.0, min_epochs: int = 0) -> tuple[int | None, int]:
    """Apply the rule to a finished run's validation curves.

    Returns:
        (the epoch it would have stopped at, or None if not within these epochs; the last improvement's epoch).
    """
    rule = EarlyStop(patience, min_loss_improvement if val_loss is not None else 0.0, min_epochs)
    losses = list(val_loss) if val_loss is not None else [math.nan] * len(val_accuracy)
    for epoch, (accuracy, loss) in enumerate(zip(val_accuracy, losses), start=1):
        rule.update(epoch, float(accuracy), float(loss))
        if rule.should_stop(epoch):
            return epoch, rule.last_improvement
    return None, rule.last_improvement
