"""`python -m xor_lightning fit|validate|test|predict`: LightningCLI with the lesson's defaults.

Bad input (a wrong value, an unknown key, a missing or oversized file, a checkpoint that does not
fit) ends in one line on stderr and exit code 2, before any folder or file is written: everything
the user gave is checked before the Trainer exists, and Lightning's own start-up messages are held
back until the run is known to be able to start.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentError, Namespace
from lightning.fabric.plugins.environments import LightningEnvironment
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from xor_lightning import startup
from xor_lightning.base import NonFiniteError, XORModule
from xor_lightning.callbacks import NotebookReport, StopOnInterrupt
from xor_lightning.checkpoints import (
    TRAINING_ONLY,
    Checkpoint,
    ReplacingCheckpointIO,
    model_classes,
    read_checkpoint,
)
from xor_lightning.checks import ConfigError
from xor_lightning.cli_help import PARSER_KWARGS, explain, extra_subcommand
from xor_lightning.cli_optimizers import check_optimizer_config, configured, follow_model_lr
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
        checkpoint = read_checkpoint(path, resume=resume, expected=expected, own=own, optimizer=optimizer)
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
        check_trainer(self.trainer, self.model, self.datamodule)
        if type(self.trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            self.trainer.strategy.checkpoint_io = ReplacingCheckpointIO()
        fit = self.config.get("subcommand") == "fit"
        startup.release(fit)  # from here on the run writes: Ctrl-C no longer just ends the process
        if fit:
            claim_run_folder(self.trainer, resuming=self.config.fit.get("ckpt_path") is not None)
        self.held_logs.release(emit=True)


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


def claim_run_folder(trainer: Any, resuming: bool) -> None:
    """Create the logger's version folder now, atomically: of two runs started together with the same
    version (or picking the same next one), the second is refused, or moves on to the next number."""
    logger = trainer.logger
    if not isinstance(logger, TensorBoardLogger) or rank_zero_only.rank != 0:
        return  # the other processes of a DDP run write into rank 0's folder
    explicit = logger._version is not None  # Lightning's own field: None until it picks the next free number
    if resuming and Path(logger.log_dir).is_dir():
        return  # a resume continues its own folder
    Path(logger.root_dir).mkdir(parents=True, exist_ok=True)
    while True:
        try:
            os.mkdir(logger.log_dir)
            return
        except FileExistsError:
            if explicit:
                raise ConfigError(
                    f"trainer.logger version: {logger.log_dir} holds a run already (another run just took it); "
                    "leave the version out for a new one"
                ) from None
            logger._version = logger.version + 1  # another run took this number just now: the next one


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


def newest_last(run_dir: Path) -> str:
    """The newest run's last checkpoint: of the version folder written last, the last*.ckpt of the
    newest step (a last-vN.ckpt that older versions of this package left beside a stale last.ckpt
    included). A file there that cannot be read is named, never silently passed over."""
    found = list(run_dir.glob("version_*/checkpoints/last*.ckpt"))
    if not found:
        raise ConfigError(f"--ckpt_path last: no {run_dir}/version_*/checkpoints/last.ckpt")
    newest = max(found, key=lambda p: p.stat().st_mtime_ns).parent
    steps = {}
    for path in (p for p in found if p.parent == newest):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                step = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("global_step")
        except Exception as err:
            raise ConfigError(f"--ckpt_path last: {path} cannot be read ({type(err).__name__}); pass a file") from err
        if isinstance(step, bool) or not isinstance(step, int):
            raise ConfigError(f"--ckpt_path last: {path} names no global_step; pass a checkpoint file")
        steps[path] = (step, path.stat().st_mtime_ns)
    return str(max(steps, key=steps.__getitem__))


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


def run_folders(config: Namespace, subcommand: str) -> list[tuple[str, Path]]:
    """(what, folder) for every folder the run will write: the logger's run (and, resuming, its version
    and checkpoints folders), and ModelCheckpoint's folder wherever it lies."""
    logger, trainer = config.trainer.logger, config.trainer
    folders = []
    root = Path(trainer.get("default_root_dir") or ".")
    log_dir = None
    if isinstance(logger, Namespace):
        run_dir = logger_run_dir(config)
        folders.append(("trainer.logger save_dir", run_dir))
        version = logger.init_args.get("version")
        if version is not None:
            log_dir = run_dir / (version if isinstance(version, str) else f"version_{version}")
            folders.append(("trainer.logger version", log_dir))
    elif logger is not False and logger is not None:
        return folders  # a logger of the user's own: its folder is its business
    if subcommand == "fit" and trainer.get("enable_checkpointing") is not False:
        dirpath = config.checkpoint.get("dirpath")
        if dirpath is not None:
            folders.append(("checkpoint.dirpath", Path(dirpath)))
        elif log_dir is not None:
            folders.append(("trainer.logger version", log_dir / "checkpoints"))
        elif not isinstance(logger, Namespace):  # no logger: Lightning writes default_root_dir/checkpoints
            folders.append(("trainer.default_root_dir", root / "checkpoints"))
    return folders


def check_writable(config: Namespace, subcommand: str = "fit") -> None:
    """Every folder the run will write can be created and written, probed without leaving anything."""
    folders = run_folders(config, subcommand)
    for what, folder in folders:
        check_folder(what, folder)
    if subcommand == "fit":
        check_space(folders, config.get("ckpt_path"))
    logger = config.trainer.logger
    if not isinstance(logger, Namespace):
        return
    version = logger.init_args.get("version")
    if version is not None and config.get("ckpt_path") is None:
        run = logger_run_dir(config) / (version if isinstance(version, str) else f"version_{version}")
        if run.exists():
            raise ConfigError(
                f"trainer.logger version: {run} holds a run already; resume it with --ckpt_path last, "
                "or leave the version out for a new one"
            )


# What a run writes besides its checkpoints: event files, config.yaml, hparams.yaml, the pictures.
DISK_RESERVE = 1 << 20


def check_space(folders: list[tuple[str, Path]], ckpt_path: str | None) -> None:
    """A run that cannot save a checkpoint fails after its start; on a disk this full, fail before it.
    An OSError, as the disk filling up during the run would give: exit 1, one line."""
    need = DISK_RESERVE + (2 * os.path.getsize(ckpt_path) if ckpt_path and os.path.isfile(ckpt_path) else 0)
    for _, folder in folders:
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        try:
            stats = os.statvfs(existing)
        except OSError:
            continue
        free = stats.f_bavail * stats.f_frsize
        if free < need:
            raise OSError(
                errno.ENOSPC,
                f"No space left on device ({free // 1024} KiB free; this run needs about {need // 1024} KiB)",
                str(existing),
            )


def check_folder(what: str, folder: Path) -> None:
    """`folder` (or the part of it that exists) is a writable folder, and every name in it fits the
    filesystem; ConfigError naming `what` otherwise."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing.is_symlink() and not existing.exists():
        raise ConfigError(f"{what}: {existing} is a symbolic link to {os.readlink(existing)}, which does not exist")
    if not existing.is_dir():
        raise ConfigError(f"{what}: {existing} is a file, not a folder")
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for part in folder.parts:
        if len(os.fsencode(part)) > name_max:
            raise ConfigError(
                f"{what}: the name {part[:40]}... is longer than the filesystem allows ({name_max} bytes)"
            )
    try:
        times = os.stat(existing)
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".xor-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ConfigError(f"{what}: cannot write in {existing} ({err.strerror or err})") from err
    with contextlib.suppress(OSError):  # the probe changed the folder's mtime: a refused run leaves it as it was
        os.utime(existing, ns=(times.st_atime_ns, times.st_mtime_ns))


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
    gc.freeze()  # nothing left to collect: exiting without a final collection saves ~1 s
    if interrupted:
        sys.exit(1)


def _fail_on_os_error(err: OSError) -> None:
    _remove_empty_event_files()
    where = f"{err.filename}: " if err.filename else ""
    _fail(f"error: {_one_line(where + str(err.strerror or err))}", 1)


def _fail(message: str | None, code: int) -> None:
    if message:
        print(message, file=sys.stderr)
    sys.exit(code)
