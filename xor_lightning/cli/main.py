"""`python -m xor_lightning fit|validate|test|predict`: LightningCLI with the lesson's defaults.

Bad input (a wrong value, an unknown key, a missing or oversized file, a checkpoint that does not
fit) ends in one line on stderr and exit code 2, before any folder or file is written: everything
the user gave is checked before the Trainer exists, and Lightning's own start-up messages are held
back until the run is known to be able to start.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentError, Namespace
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from xor_lightning import quiet
from xor_lightning.arguments import ConfigError
from xor_lightning.checkpoints import TRAINING_ONLY, Checkpoint, read_checkpoint
from xor_lightning.cli import startup
from xor_lightning.cli.checkpoint_files import ReplacingCheckpointIO, model_classes
from xor_lightning.cli.folders import (
    EVALUATE,
    _no_logger,
    check_writable,
    claim_run_folder,
    log_into_run_folder,
    logger_run_dir,
    newest_last,
)
from xor_lightning.cli.held_logs import HeldLogs
from xor_lightning.cli.help import PARSER_KWARGS, explain, extra_subcommand
from xor_lightning.cli.inputs import check_arguments
from xor_lightning.cli.interrupts import StopOnInterrupt
from xor_lightning.cli.launch import check_config, check_launch, check_resources
from xor_lightning.cli.optimizer_args import check_optimizer_config, configured, follow_model_lr
from xor_lightning.cli.run_names import name_run_folder
from xor_lightning.data import XORDataModule
from xor_lightning.guards import NonFiniteError
from xor_lightning.report import NotebookReport
from xor_lightning.xor_module import XORModule

# What every experiment shares; a config file holds only what makes it different.
TRAINER_DEFAULTS: dict[str, Any] = {
    "max_steps": 10001,
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "logs", "name": "xor", "default_hp_metric": False, "log_graph": True},
    },
    # The STEP COST lines are the progress report: a bar would cost more than a step and garble them.
    "enable_progress_bar": False,
    "num_sanity_val_steps": 0,
    "profiler": {"class_path": "xor_lightning.speed.NoProfiler"},  # `--trainer.profiler simple` profiles
}
log = logging.getLogger("xor_lightning.cli")


class SaveFitConfig(SaveConfigCallback):
    """config.yaml describes how a run was trained: `test` from its checkpoint leaves it as it is."""

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            super().setup(trainer, pl_module, stage)


class XORLightningCLI(LightningCLI):
    def __init__(self, args: Any = None, run: bool = True) -> None:
        self.held_logs = HeldLogs()
        _RUNNING[:] = [self]
        try:
            super().__init__(
                XORModule,
                XORDataModule,
                subclass_mode_model=True,
                seed_everything_default=777,
                trainer_defaults=TRAINER_DEFAULTS,
                save_config_callback=SaveFitConfig,
                save_config_kwargs={"overwrite": True},  # resuming a run writes its config.yaml again
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
                # A resume whose ModelCheckpoint state names another spelling of its folder (another
                # working folder) would otherwise write last-v1.ckpt beside a stale last.ckpt.
                "checkpoint.enable_version_counter": False,
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
        model_cls = model_classes().get(str(config.model.class_path))
        check_optimizer_config(subcommand, config, self.explicit_model, model_cls)
        name_run_folder(config, raw)
        if config.get("ckpt_path") is not None:
            self._use_checkpoint(subcommand, config)
        elif subcommand in EVALUATE:
            log.warning(
                f"note: no --ckpt_path, so {subcommand} sees an untrained network; pass --ckpt_path last "
                "(the newest run of this config) or a checkpoint file"
            )
            _no_logger(config)
        check_writable(config, subcommand)

    def _use_checkpoint(self, subcommand: str, config: Namespace) -> None:
        """Resolve `last`, check the whole file, compare it with what the user asked for."""
        path = str(config.ckpt_path)
        if path == "last":
            path = newest_last(logger_run_dir(config))
        asked = str(config.model.class_path)
        own = {}
        if self.explicit_model["class_path"] and asked not in model_classes():  # the user's own module
            module, _, name = asked.rpartition(".")
            cls = getattr(sys.modules.get(module), name, None)  # imported already, by their config
            if isinstance(cls, type) and issubclass(cls, XORModule):
                own[asked] = cls
        expected = {**model_classes(), **own}.get(asked)
        resume = subcommand == "fit"
        optimizer = (lambda cls: configured(config, cls)) if resume else None
        classes = {**model_classes(), **own}
        checkpoint = read_checkpoint(path, classes, resume=resume, expected=expected, optimizer=optimizer)
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

    def _add_configure_optimizers_method_to_model(self, subcommand: str | None) -> None:
        # --optimizer replacing the module's configure_optimizers is the point, not a surprise to warn of.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*configure_optimizers` will be overridden")
            super()._add_configure_optimizers_method_to_model(subcommand)

    def before_instantiate_classes(self) -> None:
        if self.config.get("subcommand"):
            follow_model_lr(self.config[self.config.subcommand])  # after the checkpoint's hparams are in
        if self.config.get("subcommand"):
            check_resources(self.config[self.config.subcommand])  # before the model's memory is allocated
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
        check_launch(self.trainer, self.model, self.datamodule)
        if type(self.trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            self.trainer.strategy.checkpoint_io = ReplacingCheckpointIO()
        fit = self.config.get("subcommand") == "fit"
        startup.release(fit)  # from here on the run writes: Ctrl-C no longer just ends the process
        if fit:
            claim_run_folder(self.trainer, resuming=self.config.fit.get("ckpt_path") is not None)
        self.held_logs.release(emit=True)


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


# OSErrors of the threads the run started (TensorBoard's event writer on a full disk): reported by
# main() in one line instead of the thread's traceback.
THREAD_ERRORS: list[BaseException] = []
_RUNNING: list[XORLightningCLI] = []  # the CLI of the current main(), for cleaning up after a failure


def _thread_failed(args: Any) -> None:
    if isinstance(args.exc_value, OSError):
        THREAD_ERRORS.append(args.exc_value)
    else:
        threading.__excepthook__(args)


def _remove_empty_event_files() -> None:
    """A failed write leaves TensorBoard's event file empty: a 0-byte file TensorBoard shows as a run."""
    trainer = getattr(_RUNNING[-1], "trainer", None) if _RUNNING else None
    for logger in getattr(trainer, "loggers", []):
        log_dir = getattr(logger, "log_dir", None)
        for event_file in Path(log_dir).glob("events.out.tfevents.*") if log_dir else ():
            with contextlib.suppress(OSError):
                if event_file.stat().st_size == 0:
                    event_file.unlink()


def main(args: Any = None) -> None:
    quiet.install()  # the CLI opts in: library messages about the libraries, not about this run
    threading.excepthook = _thread_failed
    THREAD_ERRORS.clear()
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
        _fail_on_os_error(err)
    except Exception as err:
        if os.environ.get("XOR_LIGHTNING_TRACEBACK"):
            raise
        message = _one_line(f"{type(err).__name__}: {err}")
        _fail(f"error: {message} (XOR_LIGHTNING_TRACEBACK=1 shows where)", 1)
    if THREAD_ERRORS:  # the run ended, but a writer thread could not write all of it
        _fail_on_os_error(THREAD_ERRORS[0])
    interrupted = any(isinstance(c, StopOnInterrupt) and c.interrupted for c in getattr(cli.trainer, "callbacks", []))
    gc.freeze()  # nothing left to collect: exit without a final collection of every object
    # Exit 1 for an interrupted run, from the main process only: Lightning's launcher ends every process
    # as soon as another rank exits non-zero, which would kill rank 0 while it still writes its reports.
    if interrupted and getattr(cli.trainer, "global_rank", 0) == 0:
        sys.exit(1)


def _fail_on_os_error(err: OSError) -> None:
    _remove_empty_event_files()
    where = f"{err.filename}: " if err.filename else ""
    _fail(f"error: {_one_line(where + str(err.strerror or err))}", 1)


def _fail(message: str | None, code: int) -> None:
    if message:
        print(message, file=sys.stderr)
    sys.exit(code)
