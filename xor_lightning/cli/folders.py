"""The folders a run writes, checked before anything is written: the logger's run, the checkpoints, free space.

Also where `--ckpt_path last` finds the newest run, and how a resumed (or evaluated) run logs into the
checkpoint's own version folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from jsonargparse import Namespace
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import TensorBoardLogger

from xor_lightning.arguments import ConfigError
from xor_lightning.checkpoints import Checkpoint

EVALUATE = ("validate", "test", "predict")


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
