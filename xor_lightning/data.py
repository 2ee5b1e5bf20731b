"""The four XOR samples, served to Lightning as one full batch per step, or stacked chunks of steps."""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from xor_lightning.arguments import check_positive_int
from xor_lightning.backprop_fast import ChunkedStream, aligned_chunk
from xor_lightning.speed import OnDeviceBatch

XOR_SAMPLES = 4


def xor_truth_table() -> tuple[torch.Tensor, torch.Tensor]:
    """X (4, 2) and Y (4, 1), float32, in the notebook's order."""
    X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    Y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)
    return X, Y


class FullBatchStream(IterableDataset):
    """Yields the same full batch `steps` times: one Lightning epoch of `steps` SGD steps.

    The notebook's "epoch" is a single step; paying Lightning's per-epoch bookkeeping on every step
    would cost more than the step (bench/RESULTS.md), so an epoch here is a block of steps, at whose
    end Lightning validates and writes `last.ckpt`. Under DDP each rank streams its own shard, so the
    ranks together still see the four samples once per step.
    """

    def __init__(self, X: torch.Tensor, Y: torch.Tensor, steps: int) -> None:
        self.X, self.Y, self.steps = X, Y, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        X, Y = self.X, self.Y
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            X, Y = X.tensor_split(world)[rank], Y.tensor_split(world)[rank]
        batch = (X, Y)
        for _ in range(self.steps):
            yield batch


class FullBatchLoader(DataLoader):
    """The stream's loader, resumable as Lightning asks: every batch is the same (and chunks take their
    position from the global step), so a run resumed in the middle of an epoch continues exactly."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        pass


class XORDataModule(OnDeviceBatch, L.LightningDataModule):
    """XOR truth table for train (streamed), val, test and predict (one batch of four).

    Args:
        steps_per_epoch: SGD steps in one Lightning epoch; validation and `last.ckpt` come at each
            epoch's end, so with the default they land on steps 1000, 2000, ...
        updates_per_batch: above 1, each training batch is a chunk of up to this many updates, the
            full batch stacked on a leading dim (see `xor_lightning.backprop_fast`), for modules that take
            several updates per batch (XORBackpropClassifier's fast twin, `xor_lightning.backprop_fast`):
            Lightning's per-batch cost is then shared by them. Chunks shrink so that every callback
            interval and epoch end is a chunk end.

    `OnDeviceBatch` (xor_lightning.speed) passes the batch, already on the model's device, straight through.
    """

    def __init__(self, steps_per_epoch: int = 1000, updates_per_batch: int = 1) -> None:
        super().__init__()
        self.steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
        self.updates_per_batch = check_positive_int("updates_per_batch", updates_per_batch)
        self.X, self.Y = xor_truth_table()

    def train_dataloader(self) -> DataLoader:
        # batch_size=None: the dataset already yields whole batches; no collation per step.
        if self.updates_per_batch == 1:
            stream: IterableDataset = FullBatchStream(self.X, self.Y, self.steps_per_epoch)
        else:
            stream = ChunkedStream(self.X, self.Y, self.steps_per_epoch, self.chunk_position)
        return FullBatchLoader(stream, batch_size=None)

    def chunk_position(self) -> tuple[int, int]:
        """(global step, chunk size) for a chunked epoch starting now; (0, updates_per_batch) without a Trainer."""
        trainer = self.trainer  # set by Lightning when the datamodule is attached
        step = trainer.global_step if trainer is not None else 0
        return step, aligned_chunk(trainer, self.updates_per_batch, self.steps_per_epoch)

    def _full_batch(self) -> DataLoader:
        return DataLoader(TensorDataset(self.X, self.Y), batch_size=len(self.X), shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return self._full_batch()

    def test_dataloader(self) -> DataLoader:
        return self._full_batch()

    def predict_dataloader(self) -> DataLoader:
        return self._full_batch()
