"""Launch checks: settings that cannot work, refused in one line before any process starts or anything is written.

`check_config` reads the parsed config (before any class exists), `check_resources` the model it would
build (before its memory is allocated), and `check_launch` the Trainer, model and data once they exist
(before fit launches other processes). The lesson's classes only declare what they need
(`single_process_reason`, `takes_update_chunks`); the checks live here.
"""

from __future__ import annotations

import os
from typing import Any

from jsonargparse import Namespace
from lightning.fabric.plugins.environments import LightningEnvironment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy

from xor_lightning.arguments import ConfigError
from xor_lightning.data import XOR_SAMPLES, XORDataModule
from xor_lightning.resources import check_fits
from xor_lightning.studies.copies_module import CopiesModule, check_copies_launch
from xor_lightning.studies.sharding import CopyShardedStrategy

MAX_SEED = 2**32 - 1


def check_config(subcommand: str, config: Namespace) -> None:
    """Values jsonargparse accepts by type but that cannot work; checked before anything runs."""
    trainer = config.trainer
    if subcommand == "fit":
        max_steps = trainer.max_steps
        if max_steps is None or max_steps < 1:
            raise ConfigError(f"trainer.max_steps must be a positive number of steps, got {max_steps}")
    seed = config.get("seed_everything")
    if not isinstance(seed, bool) and not (isinstance(seed, int) and 0 <= seed <= MAX_SEED):
        raise ConfigError(f"seed_everything must be true, false or an integer in [0, {MAX_SEED}], got {seed}")
    devices = trainer.devices
    if (isinstance(devices, int) and devices < 1) or devices in ("0", []):
        raise ConfigError(f"trainer.devices must be at least 1 (or 'auto'), got {devices!r}")
    interval = trainer.get("val_check_interval")
    if interval is not None and (interval <= 0 or (isinstance(interval, float) and interval > 1)):
        raise ConfigError(f"trainer.val_check_interval must be a positive number of steps or in (0, 1], got {interval}")
    every = trainer.get("check_val_every_n_epoch")
    if every is not None and every < 1:
        raise ConfigError(f"trainer.check_val_every_n_epoch must be positive or null, got {every}")
    if not 0 <= config.num_threads <= 1024:
        raise ConfigError(f"num_threads must be 0 (torch's default) or a number of threads, got {config.num_threads}")


def check_resources(config: Namespace) -> None:
    """A single network's memory (resources.check_fits), checked before it is built; a study checks its own
    copies in `CopiesModule.build_stacks`, before it allocates them."""
    init = config.model.get("init_args") or Namespace()
    sizes = init.get("hidden_sizes")
    if "num_copies" in init or "architectures" in init or not isinstance(sizes, (list, tuple)):
        return
    try:
        check_fits([list(sizes)])  # checks hidden_sizes first, with the module's own message
    except ValueError as err:
        raise ConfigError(str(err)) from err


def check_launch(trainer: Any, model: Any, datamodule: Any) -> None:
    """Once the Trainer exists, before fit starts any process: processes, strategy, chunks, manual updates."""
    world_size, name = trainer.world_size, type(model).__name__
    if isinstance(model, CopiesModule):
        check_copies_launch(trainer, model)
    reason = getattr(model, "single_process_reason", None)
    if world_size > 1 and reason:
        raise ConfigError(
            f"{name} trains on one process only ({reason}); got {world_size} processes: use --trainer.devices 1 "
            "and no ddp strategy"
        )
    copies = isinstance(model, CopiesModule)  # the studies shard copies, not samples
    if not copies and XOR_SAMPLES % world_size:
        raise ConfigError(
            f"{world_size} processes cannot share the {XOR_SAMPLES} XOR samples equally "
            "(the cost would weight them unequally): use 1, 2 or 4 processes in all"
        )
    # One network on several processes learns only if their gradients are averaged: DDP does that.
    # copy_sharded leaves them apart (each process would fit its own samples) and others are untested.
    strategy = trainer.strategy
    if (
        not copies
        and world_size > 1
        and (not isinstance(strategy, DDPStrategy) or isinstance(strategy, CopyShardedStrategy))
    ):
        raise ConfigError(
            f"trainer.strategy {type(strategy).__name__}: {name} is one network, which {world_size} processes "
            "train together only under ddp (averaged gradients); copy_sharded is for the seed studies' copies"
        )
    if isinstance(datamodule, XORDataModule) and datamodule.updates_per_batch > 1:
        check_chunks(trainer, datamodule, getattr(model, "takes_update_chunks", False), name)
    if not model.automatic_optimization:
        for flag, value, default in (
            ("gradient_clip_val", trainer.gradient_clip_val, None),
            ("accumulate_grad_batches", trainer.accumulate_grad_batches, 1),
        ):
            if value not in (default, 0):
                raise ConfigError(
                    f"trainer.{flag}: {name} applies its own updates (manual optimization), so Lightning "
                    "cannot clip or accumulate them; drop the flag"
                )
    check_trainer(trainer, model, datamodule)


def check_chunks(trainer: Any, datamodule: XORDataModule, takes_chunks: bool, module: str) -> None:
    """Settings that cannot work with chunks of several updates per batch (data.updates_per_batch > 1)."""
    if not takes_chunks:
        raise ConfigError(
            f"data.updates_per_batch {datamodule.updates_per_batch}: {module} takes one update per batch; "
            "use 1 (only XORBackpropClassifier takes several)"
        )
    interval = trainer.val_check_interval
    if not (isinstance(interval, float) and interval == 1.0):
        raise ConfigError(
            f"trainer.val_check_interval {interval} counts batches, and with "
            f"data.updates_per_batch {datamodule.updates_per_batch} a batch is several steps: validate at "
            "epoch ends instead (data.steps_per_epoch)"
        )


# Precisions the lesson's float32 data and modules run under: "-true" ones other than 32 make the
# weights another dtype than the data ("mat1 and mat2 must have the same dtype"); autocast keeps them.
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
# What the CLI's runs log, for a callback's `monitor`: NotebookReport's cost, and validation's metrics.
TRAIN_METRICS, VAL_METRICS = frozenset({"train_loss"}), frozenset({"val_loss", "val_acc", "step"})


def check_trainer(trainer: Any, model: Any, datamodule: Any) -> None:
    """Trainer and callback settings that Lightning would refuse only once the run has started (or
    never: a second node that never comes), checked when the Trainer exists and nothing is written."""
    if str(trainer.precision) not in PRECISIONS:
        raise ConfigError(
            f"trainer.precision {trainer.precision}: the XOR data and modules are float32 (the notebook's "
            f"bits); use one of {', '.join(PRECISIONS)}"
        )
    environment = getattr(trainer.strategy, "cluster_environment", None)
    if (
        trainer.num_nodes > 1
        and isinstance(environment, LightningEnvironment)
        and not {"MASTER_ADDR", "NODE_RANK"} <= set(os.environ)
    ):
        raise ConfigError(
            f"trainer.num_nodes {trainer.num_nodes}: no launcher says which node this is (NODE_RANK, "
            "MASTER_ADDR unset), so the run would wait for the other nodes forever; start it with torchrun "
            "or SLURM, or set them on every node"
        )
    validating = trainer.limit_val_batches != 0
    interval = trainer.val_check_interval
    if isinstance(datamodule, XORDataModule) and isinstance(interval, int) and not isinstance(interval, bool):
        batches, limit = datamodule.steps_per_epoch, trainer.limit_train_batches
        batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
        if interval > batches and trainer.check_val_every_n_epoch is not None and validating:
            raise ConfigError(
                f"trainer.val_check_interval {interval} is more than the {batches} steps of an epoch "
                "(data.steps_per_epoch); use at most that, or --trainer.check_val_every_n_epoch null"
            )
    if type(model).__module__.startswith("xor_lightning") and all(
        type(c).__module__.startswith(("xor_lightning", "lightning")) for c in trainer.callbacks
    ):  # only our own code logs: what it logs is known
        logged = TRAIN_METRICS | (VAL_METRICS if validating else frozenset())
        for callback in trainer.callbacks:
            monitor = getattr(callback, "monitor", None)
            if isinstance(monitor, str) and monitor not in logged:
                what = "checkpoint" if isinstance(callback, ModelCheckpoint) else type(callback).__name__
                also = "" if validating else " (validation is off: limit_val_batches 0)"
                raise ConfigError(
                    f"{what}.monitor {monitor!r}: no such metric is logged{also}; choose one of {sorted(logged)}"
                )
