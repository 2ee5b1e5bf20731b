"""`python -m xor_lightning fit|validate|test|predict`: LightningCLI with the lesson's defaults.

Bad input (a wrong value, an unknown key, a missing or oversized file, a checkpoint that does not
fit) ends in one line on stderr and exit code 2, before any folder or file is written: everything
the user gave is checked before the Trainer exists, and Lightning's own start-up messages are held
back until the run is known to be able to start.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentError, Namespace
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from xor_lightning.base import NonFiniteError, XORModule
from xor_lightning.callbacks import NotebookReport, StopOnInterrupt
from xor_lightning.checkpoints import TRAINING_ONLY, Checkpoint, model_classes, read_checkpoint
from xor_lightning.checks import ConfigError
from xor_lightning.cli_help import PARSER_KWARGS, explain, extra_subcommand
from xor_lightning.data import XORDataModule
from xor_lightning.inputs import check_arguments
from xor_lightning.logs import HeldLogs
from xor_lightning.run_names import name_run_folder

# What every experiment shares; a config file holds only what makes it different.
TRAINER_DEFAULTS: dict[str, Any] = {
    "max_steps": 10001,
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "logs", "name": "xor", "default_hp_metric": False, "log_graph": True},
    },
    # The STEP COST lines are the progress report: a bar would cost ~350 us a step and garble them.
    "enable_progress_bar": False,
    "num_sanity_val_steps": 0,
    "profiler": {"class_path": "xor_lightning.profiler.NoProfiler"},  # `--trainer.profiler simple` profiles
}
EVALUATE = ("validate", "test", "predict")
MAX_SEED = 2**32 - 1
log = logging.getLogger("xor_lightning.cli")


class SaveFitConfig(SaveConfigCallback):
    """config.yaml describes how a run was trained: `test` from its checkpoint leaves it as it is."""

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            super().setup(trainer, pl_module, stage)


class XORLightningCLI(LightningCLI):
    def __init__(self, args: Any = None, run: bool = True) -> None:
        self.held_logs = HeldLogs()
        try:
            super().__init__(
                XORModule,
                XORDataModule,
                subclass_mode_model=True,
                seed_everything_default=777,
                trainer_defaults=TRAINER_DEFAULTS,
                save_config_callback=SaveFitConfig,
                save_config_kwargs={"overwrite": True},  # resuming a run writes its config.yaml again
                auto_configure_optimizers=False,
                parser_kwargs=PARSER_KWARGS,
                args=args,
                run=run,
            )
        finally:
            self.held_logs.release(emit=False)  # only if still held: an error came first

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        kwargs.setdefault("exit_on_error", False)  # raise, so main() can print one line
        kwargs.setdefault("allow_abbrev", False)  # `--conf` is not `--config`: inputs.py reads what is typed
        return super().init_parser(**kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--num_threads",
            type=int,
            default=1,
            help="torch CPU threads; these tensors are too small to split, and a busy machine makes 2 threads "
            "4-7x slower than 1 (0: torch's default)",
        )
        parser.set_defaults({"model": {"class_path": "xor_lightning.XORClassifier"}})
        # Always-on callbacks, configurable as --report.*, --checkpoint.*
        parser.add_lightning_class_args(NotebookReport, "report")
        parser.add_lightning_class_args(StopOnInterrupt, "interrupt")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        # last.ckpt is written at each epoch's end and when training stops (max_steps, Ctrl-C, SIGTERM,
        # an error), so the final steps are never left out.
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.save_on_train_epoch_end": True,
                "checkpoint.save_on_exception": True,
            }
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        raw = list(sys.argv[1:] if args is None else args) if not isinstance(args, (dict, Namespace)) else []
        self.explicit_model = check_arguments(raw)
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand is None:
            return
        config = self.config[subcommand]
        if config.get("weights_only") is None:
            config.weights_only = True  # checkpoints never run pickled code, whatever torch's default
        check_config(subcommand, config)
        name_run_folder(config, raw)
        if config.get("ckpt_path") is not None:
            self._use_checkpoint(subcommand, config)
        elif subcommand in EVALUATE:
            log.warning(
                f"note: no --ckpt_path, so {subcommand} sees an untrained network; pass --ckpt_path last "
                "(the newest run of this config) or a checkpoint file"
            )
            _no_logger(config)
        check_writable(config)

    def _use_checkpoint(self, subcommand: str, config: Namespace) -> None:
        """Resolve `last`, check the whole file, compare it with what the user asked for."""
        path = str(config.ckpt_path)
        if path == "last":
            run_dir = logger_run_dir(config)
            found = sorted(run_dir.glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
            if not found:
                raise ConfigError(f"--ckpt_path last: no {run_dir}/version_*/checkpoints/last.ckpt")
            path = str(found[-1])
        asked = str(config.model.class_path)
        own = {}
        if self.explicit_model["class_path"] and asked not in model_classes():  # the user's own module
            module, _, name = asked.rpartition(".")
            cls = getattr(sys.modules.get(module), name, None)  # imported already, by their config
            if isinstance(cls, type) and issubclass(cls, XORModule):
                own[asked] = cls
        expected = {**model_classes(), **own}.get(asked)
        checkpoint = read_checkpoint(path, resume=subcommand == "fit", expected=expected, own=own)
        self._compare(subcommand, config, checkpoint)
        config.ckpt_path = path
        log_into_run_folder(subcommand, config, checkpoint)

    def _compare(self, subcommand: str, config: Namespace, checkpoint: Checkpoint) -> None:
        """What the user named explicitly must match the checkpoint; unnamed values come from it."""
        named_class, keys = self.explicit_model["class_path"], set(self.explicit_model["keys"])
        if not named_class and not keys:
            log.info(f"model from the checkpoint: {checkpoint.describe()}")
            return
        ours = model_classes().get(str(config.model.class_path)) or (
            checkpoint.cls
            if str(config.model.class_path) == f"{checkpoint.cls.__module__}.{checkpoint.cls.__qualname__}"
            else None
        )
        theirs = checkpoint.cls
        if subcommand in EVALUATE:
            keys -= TRAINING_ONLY  # they change how it would train, not what the weights mean
        if named_class and ours is not theirs:
            asked = ours.__name__ if ours else str(config.model.class_path)
            raise ConfigError(
                f"--ckpt_path {checkpoint.path} holds a {theirs.__name__}, but the config asks for {asked}"
            )
        init = config.model.get("init_args") or Namespace()
        differ = [
            k for k in sorted(keys) if k not in checkpoint.hparams or _plain(init.get(k)) != checkpoint.hparams[k]
        ]
        if differ:
            held = ", ".join(f"{k} {checkpoint.hparams.get(k, '(none)')}" for k in differ)
            asked = ", ".join(f"{k} {_plain(init.get(k))}" for k in differ)
            why = "; a resumed run keeps its hyperparameters" if subcommand == "fit" else ""
            raise ConfigError(
                f"--ckpt_path {checkpoint.path} holds {theirs.__name__} with {held}, "
                f"but the config asks for {(ours or theirs).__name__} with {asked}{why}"
            )

    def before_instantiate_classes(self) -> None:
        threads = self.config[self.config.subcommand].num_threads if self.config.get("subcommand") else 1
        if threads:
            torch.set_num_threads(threads)

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except MisconfigurationException as err:  # the Trainer's: an accelerator this machine lacks, ...
            raise ConfigError(f"trainer: {_root_message(err)}") from err
        except ValueError as err:  # the modules' own checks: lr, hidden_sizes, ...
            raise ConfigError(_root_message(err)) from err
        # Before fit launches any other process or writes anything.
        self.model.check_launch(self.trainer)
        self.model.check_data(self.trainer, self.datamodule)
        if not self.model.automatic_optimization:
            for flag, value, default in (
                ("gradient_clip_val", self.trainer.gradient_clip_val, None),
                ("accumulate_grad_batches", self.trainer.accumulate_grad_batches, 1),
            ):
                if value not in (default, 0):
                    raise ConfigError(
                        f"trainer.{flag}: {type(self.model).__name__} applies its own updates (manual "
                        "optimization), so Lightning cannot clip or accumulate them; drop the flag"
                    )
        self.held_logs.release(emit=True)


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


def logger_run_dir(config: Namespace) -> Path:
    logger = config.trainer.logger
    init = logger.init_args if isinstance(logger, Namespace) else Namespace()
    return Path(init.get("save_dir") or "logs") / str(init.get("name") or "xor")


def log_into_run_folder(subcommand: str, config: Namespace, checkpoint: Checkpoint) -> None:
    """Resuming continues the checkpoint's own version folder, so TensorBoard's steps continue;
    validate/test/predict log there too (beside the fit), or nowhere if the file lies elsewhere."""
    logger = config.trainer.logger
    if not isinstance(logger, Namespace) or logger.init_args.get("version") is not None:
        return
    folder = Path(checkpoint.path).parent
    if checkpoint.dirpath and Path(checkpoint.dirpath).resolve() == folder.resolve():
        folder = Path(checkpoint.dirpath)  # spelled as when it was saved, so ModelCheckpoint continues it
    version_dir = folder.parent
    in_a_run = folder.name == "checkpoints" and version_dir.name.startswith("version_")
    if in_a_run and {"save_dir", "name"} <= set(vars(logger.init_args)):
        logger.init_args.save_dir = str(version_dir.parent.parent)
        logger.init_args.name = version_dir.parent.name
        logger.init_args.version = version_dir.name
    elif subcommand in EVALUATE:
        _no_logger(config)


def _no_logger(config: Namespace) -> None:
    config.trainer.logger = False  # evaluating nothing trained makes no run folder


def check_writable(config: Namespace) -> None:
    """The run folder can be created and written, probed without leaving anything behind."""
    logger = config.trainer.logger
    if not isinstance(logger, Namespace):
        return
    folder = logger_run_dir(config)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"trainer.logger save_dir: {existing} is a file, not a folder")
    version = logger.init_args.get("version")
    if version is not None and config.get("ckpt_path") is None:
        run = folder / (version if isinstance(version, str) else f"version_{version}")
        if run.exists():
            raise ConfigError(
                f"trainer.logger version: {run} holds a run already; resume it with --ckpt_path last, "
                "or leave the version out for a new one"
            )
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".xor-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ConfigError(f"trainer.logger save_dir: cannot write in {existing} ({err.strerror})") from err


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _root_message(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)


def _one_line(message: str, limit: int = 300) -> str:
    """jsonargparse explains a bad value over many lines; keep the key path and the problem, briefly."""
    keys = re.findall(r'Parser key "([^"]+)":', message)
    noise = re.compile(
        r'NoneType|^Given value|^Errors:|Problem with given class_path|Union subtypes|^Parser key "[^"]+":$'
    )
    lines = [re.sub(r"^- ", "", ln.strip()) for ln in message.splitlines() if ln.strip()]
    text = " ".join(ln for ln in lines if not noise.search(ln)) or " ".join(lines)
    text = re.sub(r'Parser key "[^"]+":\s*', "", text)
    path = ".".join(k for k in keys if k not in ("init_args",))
    text = f"{path}: {text}" if path else text
    return text if len(text) <= limit else text[: limit - 4] + " ..."


class CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes: main() may run again with stderr replaced."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def main(args: Any = None) -> None:
    if not log.handlers:
        handler = CurrentStderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    if extra_subcommand(list(sys.argv[1:] if args is None else args)):
        return
    try:
        cli = XORLightningCLI(args=args)
    except (ArgumentError, ConfigError, MisconfigurationException) as err:
        _fail(f"error: {explain(_one_line(str(err)))}", 2)
    except NonFiniteError as err:
        # The refusal to save NaN weights can replace the error that stopped training: name both.
        chain = [e for e in (err.__context__, err) if isinstance(e, NonFiniteError)]
        _fail("error: " + _one_line("; ".join(str(e) for e in chain), 400), 1)
    except SIGTERMException:
        _fail(None, 143)  # StopOnInterrupt has said where the checkpoint is
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C
        _fail("interrupted", 130)
    except OSError as err:  # a full disk, a folder that vanished: the previous last.ckpt is intact
        where = f"{err.filename}: " if err.filename else ""
        _fail(f"error: {_one_line(where + str(err.strerror or err))}", 1)
    except Exception as err:
        if os.environ.get("XOR_LIGHTNING_TRACEBACK"):
            raise
        message = _one_line(f"{type(err).__name__}: {err}")
        _fail(f"error: {message} (XOR_LIGHTNING_TRACEBACK=1 shows where)", 1)
    interrupted = any(isinstance(c, StopOnInterrupt) and c.interrupted for c in getattr(cli.trainer, "callbacks", []))
    gc.freeze()  # nothing left to collect: exiting without a final collection saves ~1 s
    if interrupted:
        sys.exit(1)


def _fail(message: str | None, code: int) -> None:
    if message:
        print(message, file=sys.stderr)
    sys.exit(code)
