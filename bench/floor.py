"""Lightning's floor: an empty automatic-optimization LightningModule on the shipped Trainer.

The same data, logger, checkpointing, profiler and no progress bar as `python -m xor_lightning fit`;
the module has one parameter and its training_step returns a constant cost. What is left per step is
Lightning's own work: the loop, its ~15 hook calls, the optimizer closure, zero_grad, backward and step.
With `lesson`, the same Trainer fits the lesson's XORClassifier instead (its NotebookReport printing,
no validation, no inspection): the floor plus the notebook's own math, before anything else of ours.

    python bench/floor.py STEPS [empty|lesson]     # in a scratch folder: it writes logs/ there
"""

from __future__ import annotations

import gc
import sys

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from xor_lightning import XORClassifier
from xor_lightning.data import XORDataModule
from xor_lightning.speed import NoProfiler


class EmptyModule(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.p * 0.0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1.0)


if __name__ == "__main__":
    torch.set_num_threads(1)  # as the CLI does
    module = sys.argv[2] if len(sys.argv) > 2 else "empty"
    L.seed_everything(777, verbose=False)
    trainer = L.Trainer(
        max_steps=int(sys.argv[1]),
        logger=TensorBoardLogger("logs", name=f"floor_{module}", default_hp_metric=False),
        callbacks=[ModelCheckpoint(save_last=True, save_on_train_epoch_end=True)],
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        profiler=NoProfiler(),  # the CLI's default
    )
    trainer.fit({"empty": EmptyModule, "lesson": XORClassifier}[module](), XORDataModule())
    gc.freeze()  # as the CLI does before exit
