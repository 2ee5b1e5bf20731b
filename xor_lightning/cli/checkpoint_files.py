"""Checkpoint files as the CLI writes and reads them: which classes a checkpoint may name, and atomic saves."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

# Imported so that package_modules(), which finds the subclasses imported so far, finds all four.
from xor_lightning.autograd_module import XORClassifier  # noqa: F401
from xor_lightning.backprop_module import XORBackpropClassifier  # noqa: F401
from xor_lightning.studies.ensemble import XOREnsemble  # noqa: F401
from xor_lightning.studies.grid import XORStudyGrid  # noqa: F401
from xor_lightning.xor_module import XORModule, package_modules


def model_classes() -> dict[str, type[XORModule]]:
    """class_path -> class, for every LightningModule of this package, under each of its names (old ones too)."""
    return package_modules()


class ReplacingCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint beside its target and renames it into place: a full disk or a crash while
    saving leaves the previous file (last.ckpt of the run being resumed) whole, never half of it.

    Lightning's own save truncates the target before writing the bytes.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):  # not a local file: Lightning's own way
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())  # a full disk may only say so here: before the old file is replaced
            os.chmod(partial, 0o666 & ~_umask())  # mkstemp's 0600: the permissions any new file gets
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
