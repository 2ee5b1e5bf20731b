"""The four XOR samples, served to Lightning as one full batch per step."""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset


def xor_truth_table() -> tuple[torch.Tensor, torch.Tensor]:
    """X (4, 2) and Y (4, 1), float32, in the notebook's order."""
    X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    Y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)
    return X, Y


class FullBatchStream(IterableDataset):
    """Yields the same full batch forever; training length is set by `max_steps`.

    One infinite epoch means Lightning pays its per-epoch bookkeeping once, not once per step
    (an epoch per step measured 1.4x slower). Under DDP each rank streams its own shard, so the
    ranks together still see the four samples once per step.
    """

    def __init__(self, X: torch.Tensor, Y: torch.Tensor) -> None:
        self.X, self.Y = X, Y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        X, Y = self.X, self.Y
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            X, Y = X.tensor_split(world)[rank], Y.tensor_split(world)[rank]
        batch = (X, Y)
        while True:
            yield batch


class XORDataModule(L.LightningDataModule):
    """XOR truth table for train (streamed), val, test and predict (one batch of four)."""

    def __init__(self) -> None:
        super().__init__()
        self.X, self.Y = xor_truth_table()

    def train_dataloader(self) -> DataLoader:
        # batch_size=None: the dataset already yields whole batches; no collation per step.
        return DataLoader(FullBatchStream(self.X, self.Y), batch_size=None)

    def _full_batch(self) -> DataLoader:
        return DataLoader(TensorDataset(self.X, self.Y), batch_size=len(self.X), shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return self._full_batch()

    def test_dataloader(self) -> DataLoader:
        return self._full_batch()

    def predict_dataloader(self) -> DataLoader:
        return self._full_batch()
