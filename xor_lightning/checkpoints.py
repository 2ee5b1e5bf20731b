"""The one place that decides what a checkpoint may contain, before anything is built from it.

A checkpoint is data: it may name one of this package's modules and hold plain hyperparameters,
finite tensors of the shapes that module has, and (to resume) one optimizer's state. Anything
else is refused in one sentence, and nothing in it is ever imported or unpickled.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xor_lightning.base import XORModule
from xor_lightning.checks import ConfigError, check_fits


def model_classes() -> dict[str, type[XORModule]]:
    """class_path -> class, for every LightningModule of this package, under both of its names."""
    from xor_lightning import XORBackpropClassifier, XORClassifier, XOREnsemble
    from xor_lightning.study_grid import XORStudyGrid

    classes: dict[str, type[XORModule]] = {}
    for cls in (XORClassifier, XORBackpropClassifier, XOREnsemble, XORStudyGrid):
        classes[f"xor_lightning.{cls.__name__}"] = cls
        classes[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return classes


# Hyperparameters that only change how a module trains, not what its weights mean: they may differ
# from the checkpoint's when evaluating it, never when resuming it.
TRAINING_ONLY = frozenset({"lr", "gradient_mode", "gradient", "solved_cost", "lrs"})
PLAIN = (type(None), bool, int, float, str)


@dataclass
class Checkpoint:
    path: str
    cls: type[XORModule]
    hparams: dict[str, Any]  # the constructor's arguments, without Lightning's `_class_path`
    global_step: int
    dirpath: str | None  # where its ModelCheckpoint wrote it, as that run spelled the folder

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{self.cls.__name__}({args})"


def read_checkpoint(path: str | Path, resume: bool = False) -> Checkpoint:
    """Load `path` with weights_only=True and check all of it; ConfigError says what is wrong."""
    name = str(path)
    if not Path(path).is_file():
        raise ConfigError(f"--ckpt_path {name}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a checkpoint, or a pickle payload: never executed
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"--ckpt_path {name}: not a loadable checkpoint ({reason[:120]})") from err

    def refuse(problem: str) -> ConfigError:
        return ConfigError(f"--ckpt_path {name}: {problem}")

    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if (
        not isinstance(hparams, dict)
        or not isinstance(checkpoint.get("state_dict"), dict)
        or "_class_path" not in hparams
    ):
        raise refuse("not a checkpoint written by xor_lightning")
    hparams = dict(hparams)
    class_path = hparams.pop("_class_path")
    instantiator = hparams.pop("_instantiator", None)
    cls = model_classes().get(class_path) if isinstance(class_path, str) else None
    if cls is None:
        raise refuse(f"names the class {str(class_path)[:80]!r}, which is not one of xor_lightning's modules")
    if instantiator not in (None, "lightning.pytorch.cli.instantiate_module"):
        raise refuse(f"names the instantiator {str(instantiator)[:80]!r}; only Lightning's own is accepted")
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(hparams) - accepted)
    if unknown:
        raise refuse(f"hyperparameters {unknown} are not arguments of {cls.__name__}")
    for key, value in hparams.items():
        if not _plain(value):
            raise refuse(f"hyperparameter {key} is not a plain value")
    try:
        # Before building anything: the study grid holds several architectures, the studies several lrs.
        lrs = hparams.get("lr", 1.0)
        copies = hparams.get("num_copies", 1) * (len(lrs) if isinstance(lrs, list) else 1)
        check_fits(hparams.get("architectures", [hparams.get("hidden_sizes", ())]), copies)
        with torch.device("meta"):  # shapes only: no memory, no random numbers drawn
            model = cls(**hparams)
    except (ValueError, TypeError) as err:
        raise refuse(f"{err}") from err
    _check_state_dict(checkpoint["state_dict"], model.state_dict(), refuse)
    global_step = checkpoint.get("global_step")
    if not isinstance(global_step, int) or global_step < 0:
        raise refuse("global_step is missing or negative")
    if resume:
        _check_resumable(checkpoint, len(list(model.parameters())), refuse)
    return Checkpoint(name, cls, hparams, global_step, _checkpoint_dirpath(checkpoint))


def _checkpoint_dirpath(checkpoint: dict) -> str | None:
    callbacks = checkpoint.get("callbacks")
    for key, state in (callbacks or {}).items() if isinstance(callbacks, dict) else ():
        if str(key).startswith("ModelCheckpoint") and isinstance(state, dict) and isinstance(state.get("dirpath"), str):
            return state["dirpath"]
    return None


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, PLAIN)


def _check_state_dict(saved: dict, expected: dict, refuse: Any) -> None:
    missing, extra = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected))
    if missing or extra:
        raise refuse(f"weights do not fit its hyperparameters (missing {missing[:4]}, unexpected {extra[:4]})")
    for key, tensor in saved.items():
        if not isinstance(tensor, torch.Tensor) or tensor.shape != expected[key].shape:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise refuse(f"{key} has shape {shape}, but its hyperparameters make it {tuple(expected[key].shape)}")
        if tensor.dtype != expected[key].dtype:
            raise refuse(f"{key} is {tensor.dtype}, expected {expected[key].dtype}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise refuse(f"{key} holds NaN or inf: the checkpoint is damaged and cannot be used")


def _check_resumable(checkpoint: dict, n_params: int, refuse: Any) -> None:
    states = checkpoint.get("optimizer_states")
    if not isinstance(states, list) or len(states) != 1 or not isinstance(states[0], dict):
        raise refuse("has no optimizer state to resume from (test, validate or predict can still use it)")
    groups = states[0].get("param_groups")
    if not isinstance(groups, list) or sum(len(g.get("params", [])) for g in groups if isinstance(g, dict)) != n_params:
        raise refuse("its optimizer state does not fit the model's parameters")
    if not isinstance(checkpoint.get("loops"), dict):
        raise refuse("has no training-loop state to resume from")
