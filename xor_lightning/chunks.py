"""Several SGD updates per Lightning batch, so Lightning's per-batch cost (~300 us) is paid once per chunk.

A chunk is the full batch stacked n times, X (n, 4, 2) and Y (n, 4, 1), as views (`expand`, no copy):
n updates for a module that loops over the leading dim (XORBackpropClassifier). Chunks are aligned to
the global step: every chunk ends on a multiple of the callbacks' intervals and of the epoch, so each
printed step, snapshot and validation lands on a chunk boundary, also after a resume from any step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import lightning as L
import torch
from torch.utils.data import IterableDataset


def aligned_chunk(trainer: L.Trainer | None, updates_per_batch: int, steps_per_epoch: int) -> int:
    """The largest chunk that divides updates_per_batch, the epoch and every callback's `every_n_steps`.

    ModelCheckpoint keeps `every_n_train_steps` private, so it cannot be read: pick updates_per_batch
    dividing it (or save at epoch ends, the CLI's default).
    """
    intervals = [getattr(cb, "every_n_steps", None) for cb in (trainer.callbacks if trainer else [])]
    return math.gcd(updates_per_batch, steps_per_epoch, *(i for i in intervals if isinstance(i, int) and i > 0))


class ChunkedStream(IterableDataset):
    """One Lightning epoch of `steps_per_epoch` updates, in aligned chunks of at most `chunk` updates.

    `position()` gives (global step, chunk) when the epoch's iterator starts: it starts at the step
    Lightning resumes from, and ends the epoch on the next multiple of `steps_per_epoch`. It then
    counts the steps itself: Lightning fetches one batch ahead, so the live global step would be late.
    It has no `__len__` (the number of chunks depends on where it starts): Lightning ends the epoch
    when the iterator stops and validates then (`val_check_interval` 1.0, the default).
    """

    def __init__(
        self, X: torch.Tensor, Y: torch.Tensor, steps_per_epoch: int, position: Callable[[], tuple[int, int]]
    ) -> None:
        self.X, self.Y, self.steps_per_epoch, self.position = X, Y, steps_per_epoch, position

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        X, Y = self.X, self.Y
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            X, Y = X.tensor_split(world)[rank], Y.tensor_split(world)[rank]
        step, chunk = self.position()
        end = (step // self.steps_per_epoch + 1) * self.steps_per_epoch
        while step < end:
            n = min(chunk - step % chunk, end - step)
            yield X.expand(n, *X.shape), Y.expand(n, *Y.shape)
            step += n
