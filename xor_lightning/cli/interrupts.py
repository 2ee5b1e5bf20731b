"""Ctrl-C and SIGTERM during training: stop between two steps, never inside an update."""

from __future__ import annotations

import signal
import sys
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from xor_lightning.cli import startup


def _stopped_at(trainer: L.Trainer) -> str:
    """Counted as the checkpoint counts: step=N is N updates done (the last printed line can be step N-1)."""
    n = trainer.global_step
    return f"step={n} ({n} updates done), as the checkpoint's name says; resume with --ckpt_path last"


AGREE_EVERY = 50  # steps between two decisions of several processes to stop


class StopOnInterrupt(L.Callback):
    """Ctrl-C stops training between two steps, never inside an update.

    Python raises KeyboardInterrupt wherever the signal lands, possibly halfway through the SGD
    update. This callback turns the first Ctrl-C into `trainer.should_stop`, which Lightning checks
    after each completed step; training then ends as at `max_steps` (last.ckpt holds the last
    completed step) and the CLI exits with code 1. A second Ctrl-C interrupts at once. SIGTERM needs
    no flag: Lightning already stops at a step boundary.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: Any = None
        self._trainer: L.Trainer | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.interrupted, self._trainer = False, trainer
        try:
            self._previous = signal.signal(signal.SIGINT, self._request_stop)
        except ValueError:  # not the main thread: leave Ctrl-C to Python
            self._previous = None
        if startup.requested:  # a Ctrl-C while the run was starting, held until now
            startup.requested = False
            self.interrupted = True
            if trainer.world_size == 1:  # several processes: decided together, below
                trainer.should_stop = True

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # A signal reaches one process (Ctrl-C in a terminal reaches all, `kill -INT` one): every rank must
        # stop after the same step, or the others wait in a collective for ever. The ranks decide together
        # every AGREE_EVERY steps (the same steps on every rank), not every step: each decision is an
        # all-reduce, which costs more than a study's step on a busy machine (bench/RESULTS.md).
        if (
            trainer.world_size > 1
            and trainer.global_step % AGREE_EVERY == 0
            and trainer.strategy.reduce_boolean_decision(self.interrupted, all=False)
        ):
            self.interrupted = True
            trainer.should_stop = True

    def _request_stop(self, signum: int, frame: Any) -> None:
        if self.interrupted or self._trainer is None:
            raise KeyboardInterrupt
        self.interrupted = True
        # Several processes stop together, at the end of a step (on_train_batch_end): a flag set here on
        # one rank only, between two of those decisions, would stop it a step before the others.
        if self._trainer.world_size == 1:
            self._trainer.should_stop = True
        when = (
            "the current step"
            if self._trainer.world_size == 1
            else f"the next step that is a multiple of {AGREE_EVERY}"
        )
        print(f"interrupt: stopping after {when} (Ctrl-C again to stop now)", file=sys.stderr, flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()
        if self.interrupted:
            self._say(f"interrupted at {_stopped_at(trainer)}")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()
        if isinstance(exception, SIGTERMException):
            self._say(f"stopped by SIGTERM at {_stopped_at(trainer)}")

    @rank_zero_only
    def _say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        self._trainer = None
