"""`--anneal F`: over the last fraction F of the run's budget (--time or --max-steps), the
learning rate follows a half cosine from where the adaptive learning rate left it down to 1%."""

from __future__ import annotations

import math
from dataclasses import dataclass

FLOOR = 0.01  # the last step trains at 1% of the rate annealing started from


@dataclass
class BudgetAnneal:
    fraction: float
    start_lr: float | None = None  # the rate when annealing began; None before

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"anneal fraction must be in [0, 1]. Received: {self.fraction}")

    def active(self, progress: float) -> bool:
        return self.fraction > 0 and progress >= 1.0 - self.fraction

    def factor(self, progress: float) -> float:
        """The multiplier of `start_lr` at `progress` (0..1 of the budget) inside the anneal window."""
        into = min(max((progress - (1.0 - self.fraction)) / self.fraction, 0.0), 1.0)
        return FLOOR + (1.0 - FLOOR) * 0.5 * (1.0 + math.cos(math.pi * into))

    def rate(self, progress: float, current_lr: float) -> float | None:
        """The learning rate for this step, or None outside the window (the adaptive rate rules)."""
        if not self.active(progress):
            return None
        if self.start_lr is None:
            self.start_lr = current_lr
        return self.start_lr * self.factor(progress)


def budget_progress(step: int, max_steps: int, elapsed_s: float, time_budget_s: float | None) -> float:
    """How much of the budget is used: the larger of the step and the time fractions."""
    progress = step / max_steps
    if time_budget_s:
        progress = max(progress, elapsed_s / time_budget_s)
    return min(progress, 1.0)
