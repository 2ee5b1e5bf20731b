"""`python -m xor_lightning fit|validate|test|predict`: LightningCLI with the lesson's defaults."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from xor_lightning.base import XORModule
from xor_lightning.callbacks import NotebookReport
from xor_lightning.data import XORDataModule

# What every experiment shares; a config file holds only what makes it different.
TRAINER_DEFAULTS: dict[str, Any] = {
    "max_steps": 10001,
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "logs", "name": "xor", "default_hp_metric": False},
    },
    # The STEP COST lines are the progress report: a bar would cost ~350 us a step and garble them.
    "enable_progress_bar": False,
    # Training streams one endless epoch, so validation runs every N steps, not per epoch.
    "val_check_interval": 1000,
    "check_val_every_n_epoch": None,
    "num_sanity_val_steps": 0,
}


class XORLightningCLI(LightningCLI):
    def __init__(self, args: Any = None, run: bool = True) -> None:
        super().__init__(
            XORModule,
            XORDataModule,
            subclass_mode_model=True,
            seed_everything_default=777,
            trainer_defaults=TRAINER_DEFAULTS,
            # Rerunning `fit` into a folder that already has a config.yaml overwrites it.
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults({"model": {"class_path": "xor_lightning.XORClassifier"}})
        # Always-on callbacks, configurable as --report.* and --checkpoint.*
        parser.add_lightning_class_args(NotebookReport, "report")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        # Save when training stops (max_steps or the end of the one endless epoch), not after the
        # last validation: that would leave the final steps out of last.ckpt.
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.save_on_train_epoch_end": True})


def main(args: Any = None) -> None:
    XORLightningCLI(args=args)
