"""`python -m xor_lightning fit|validate|test|predict`: LightningCLI with the lesson's defaults.

Bad input (a wrong value, an unknown key, a missing file, a checkpoint that does not fit) ends in
one line on stderr and a non-zero exit, before any folder or file is written.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentError, Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from xor_lightning.base import ConfigError, NonFiniteError, XORModule
from xor_lightning.callbacks import NotebookReport, StopOnInterrupt
from xor_lightning.classifier import XORClassifier
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
            # Resuming a run writes its config.yaml again, into the same folder.
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        kwargs.setdefault("exit_on_error", False)  # raise, so main() can print one line
        return super().init_parser(**kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults({"model": {"class_path": "xor_lightning.XORClassifier"}})
        # Always-on callbacks, configurable as --report.*, --checkpoint.*
        parser.add_lightning_class_args(NotebookReport, "report")
        parser.add_lightning_class_args(StopOnInterrupt, "interrupt")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        # last.ckpt is written when training stops (max_steps, Ctrl-C, SIGTERM, an error), not after
        # the last validation, which would leave the final steps out.
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.save_on_train_epoch_end": True,
                "checkpoint.save_on_exception": True,
            }
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand is None:
            return
        config = self.config[subcommand]
        if config.get("weights_only") is None:
            config.weights_only = True  # checkpoints never run pickled code, whatever torch's default
        if subcommand == "fit":
            max_steps = config.trainer.max_steps
            if max_steps is None or max_steps < 1:
                raise ConfigError(f"trainer.max_steps must be a positive number of steps, got {max_steps}")
        if config.get("ckpt_path") is not None:
            config.ckpt_path = self._check_checkpoint(subcommand, config)

    def _check_checkpoint(self, subcommand: str, config: Namespace) -> str:
        """Resolve `last`, load the file safely, and refuse one that does not fit the config."""
        ckpt_path = str(config.ckpt_path)
        run_dir = _logger_run_dir(config)
        if ckpt_path == "last" and subcommand == "fit":
            found = sorted(run_dir.glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
            if not found:
                raise ConfigError(f"--ckpt_path last: no {run_dir}/version_*/checkpoints/last.ckpt to resume")
            ckpt_path = str(found[-1])
        path = Path(ckpt_path)
        if not path.is_file():
            raise ConfigError(f"--ckpt_path {ckpt_path}: no such checkpoint file")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated, not a checkpoint, or a pickle payload: never executed
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"--ckpt_path {ckpt_path}: not a loadable checkpoint ({reason[:160]})") from err
        hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
        if not isinstance(hparams, dict) or "state_dict" not in checkpoint or "_class_path" not in hparams:
            raise ConfigError(f"--ckpt_path {ckpt_path}: not a checkpoint written by xor_lightning")
        _check_same_architecture(ckpt_path, hparams, config.model)
        if subcommand == "fit":
            _continue_in_run_folder(config, path, run_dir)
        return ckpt_path

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except ValueError as err:  # the modules' own checks: lr, hidden_sizes, ...
            raise ConfigError(_root_message(err)) from err
        # Before fit launches any other process or writes anything.
        self.model.check_world_size(self.trainer.world_size)


def _logger_run_dir(config: Namespace) -> Path:
    init = config.trainer.logger.init_args if isinstance(config.trainer.logger, Namespace) else Namespace()
    return Path(init.get("save_dir") or "logs") / str(init.get("name") or "xor")


def _architecture(model: Any) -> tuple[str, list[int]]:
    if isinstance(model, dict):  # checkpoint hyperparameters
        return str(model["_class_path"]).rsplit(".", 1)[-1], list(model.get("hidden_sizes", []))
    init = model.get("init_args") or Namespace()
    return str(model.class_path).rsplit(".", 1)[-1], list(init.get("hidden_sizes") or [])


def _check_same_architecture(ckpt_path: str, hparams: dict, model: Namespace) -> None:
    """A model the user configured must match the checkpoint; an unconfigured one takes its values."""
    ours, theirs = _architecture(model), _architecture(hparams)
    default = ("XORClassifier", list(inspect.signature(XORClassifier).parameters["hidden_sizes"].default))
    if ours != theirs and ours != default:
        raise ConfigError(
            f"--ckpt_path {ckpt_path} holds {theirs[0]} with hidden_sizes {theirs[1]}, "
            f"but the config asks for {ours[0]} with hidden_sizes {ours[1]}"
        )


def _continue_in_run_folder(config: Namespace, ckpt: Path, run_dir: Path) -> None:
    """Resuming logs into the checkpoint's own version folder, so TensorBoard's steps continue."""
    version_dir = ckpt.resolve().parent.parent
    logger = config.trainer.logger
    if (
        isinstance(logger, Namespace)
        and logger.init_args.get("version") is None
        and version_dir.parent == run_dir.resolve()
        and version_dir.name.startswith("version_")
    ):
        logger.init_args.version = version_dir.name


def _root_message(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)


def _one_line(message: str) -> str:
    """jsonargparse explains a bad value over many lines; keep the key path and the problem."""
    keys = re.findall(r'Parser key "([^"]+)":', message)
    noise = re.compile(
        r'NoneType|^Given value|^Errors:|Problem with given class_path|Union subtypes|^Parser key "[^"]+":$'
    )
    lines = [re.sub(r"^- ", "", ln.strip()) for ln in message.splitlines() if ln.strip()]
    text = " ".join(ln for ln in lines if not noise.search(ln)) or " ".join(lines)
    text = re.sub(r'Parser key "[^"]+":\s*', "", text)
    path = ".".join(k for k in keys if k not in ("init_args",))
    return f"{path}: {text}" if path else text


def main(args: Any = None) -> None:
    try:
        XORLightningCLI(args=args)
    except (ArgumentError, ConfigError) as err:
        print(f"error: {_one_line(str(err))}", file=sys.stderr)
        sys.exit(2)
    except NonFiniteError as err:
        # The refusal to save NaN weights can replace the error that stopped training: name both.
        chain = [e for e in (err.__context__, err) if isinstance(e, NonFiniteError)]
        sys.exit("error: " + "; ".join(str(e) for e in chain))
    except SIGTERMException:
        sys.exit(143)  # StopOnInterrupt has said where the checkpoint is
