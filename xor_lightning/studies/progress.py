"""A progress line for long studies, at most every `every_seconds`, so a run never looks hung."""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class Progress(L.Callback):
    """On stderr (stdout keeps the `STEP COST` lines): steps done, elapsed, expected remaining,
    and the copy-steps per second of this run. Rank 0 only; the ranks step together."""

    def __init__(self, every_seconds: float = 20.0) -> None:
        if isinstance(every_seconds, bool) or not isinstance(every_seconds, (int, float)) or not every_seconds > 0:
            raise ValueError(f"every_seconds must be a positive number, got {every_seconds!r}")
        self.every_seconds = float(every_seconds)
        self._start = self._last = 0.0
        self._first_step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = self._last = time.monotonic()
        self._first_step = trainer.global_step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.monotonic()
        if now - self._last < self.every_seconds or not trainer.is_global_zero:
            return
        self._last = now
        done, total = trainer.global_step, trainer.max_steps
        elapsed = now - self._start
        rate = (done - self._first_step) / elapsed  # steps per second since this fit started
        left = (total - done) / rate if rate > 0 else float("nan")
        networks = getattr(pl_module, "total_networks", 1)  # every copy of every architecture
        print(
            f"progress: step {done}/{total} ({done / total:.0%}) of {networks} networks, elapsed {clock(elapsed)}, "
            f"about {clock(left)} left, {rate * networks:.3g} network-steps/s",
            file=sys.stderr,
            flush=True,
        )
