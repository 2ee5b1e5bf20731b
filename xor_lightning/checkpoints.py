"""The one place that decides what a checkpoint may contain, before anything is built from it.

A checkpoint is data: it may name one of this package's modules and hold plain hyperparameters,
finite tensors of the shapes that module has, and (to resume) one optimizer's state. Anything
else is refused in one sentence, and nothing in it is ever imported or unpickled.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning
import torch
from packaging.version import InvalidVersion, Version

from xor_lightning.arguments import ConfigError
from xor_lightning.optimizers import check_resumed, may_be_named, scheduler_may_be_named
from xor_lightning.resources import check_fits

# Hyperparameters that only change how a module trains, not what its weights mean: they may differ
# from the checkpoint's when evaluating it, never when resuming it.
TRAINING_ONLY = frozenset({"lr", "gradient_mode", "gradient", "solved_cost"})
PLAIN = (type(None), bool, int, float, str)
PUBLIC_MODULES = frozenset({"XORClassifier", "XORBackpropClassifier", "XOREnsemble", "XORStudyGrid"})


@dataclass
class Checkpoint:
    path: str
    cls: type  # an XORModule subclass
    hparams: dict[str, Any]  # the constructor's arguments, without Lightning's `_class_path`
    global_step: int
    dirpath: str | None  # where its ModelCheckpoint wrote it, as that run spelled the folder

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{self.cls.__name__}({args})"


def read_checkpoint(
    path: str | Path,
    classes: dict[str, type],
    resume: bool = False,
    expected: type | None = None,
    optimizer: Callable[[type], tuple] | None = None,
) -> Checkpoint:
    """Load `path` with weights_only=True and check all of it; ConfigError says what is wrong.

    `classes`: {class_path: class} of the modules a checkpoint may name (`xor_module.package_modules()`,
    and for the CLI a module of the user's own that their config named, already imported by their choice).
    `expected`: the module asked for, used when the checkpoint names no class (a checkpoint written by a
    plain Trainer, not the CLI). `optimizer`: given the checkpoint's module class,
    what the resumed run will build, (class, init args without lr, scheduler class path or None, scheduler
    init args); a single run's checkpoint must match it in every setting (the studies' optimizers are
    their hyperparameters, compared as such).
    """
    name = str(path)
    if not Path(path).is_file():
        raise ConfigError(f"--ckpt_path {name}: no such checkpoint file")
    try:
        with warnings.catch_warnings():
            # torch warns of a pickle protocol other than its own before refusing a payload: the refusal
            # below says what matters, in one line.
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a checkpoint, or a pickle payload: never executed
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if reason.startswith("Weights only load failed"):
            reason = "it holds pickled Python objects, which are never unpickled"
        raise ConfigError(f"--ckpt_path {name}: not a loadable checkpoint ({reason[:120]})") from err

    def refuse(problem: str) -> ConfigError:
        return ConfigError(f"--ckpt_path {name}: {problem}")

    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(hparams, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise refuse("not a checkpoint written by xor_lightning")
    if "_class_path" not in hparams and expected is None:
        raise refuse("names no module (written by a plain Trainer): load it with its class, e.g. XORClassifier")
    hparams = dict(hparams)
    class_path = hparams.pop("_class_path", None)
    instantiator = hparams.pop("_instantiator", None)
    known = classes
    cls = expected if class_path is None else known.get(class_path) if isinstance(class_path, str) else None
    if cls is None:
        name = str(class_path).rpartition(".")[2]
        hint = f" (import it first: from xor_lightning import {name})" if name in PUBLIC_MODULES else ""
        raise refuse(f"names the class {str(class_path)[:80]!r}, which is not one of xor_lightning's modules{hint}")
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
        for key in ("activations", "optimizers"):  # the grid has one stack per architecture x these
            copies *= len(hparams[key]) if isinstance(hparams.get(key), list) else 1
        check_fits(hparams.get("architectures", [hparams.get("hidden_sizes", ())]), copies)
        with torch.device("meta"):  # shapes only: no memory, no random numbers drawn
            model = cls(**hparams)
    except (ValueError, TypeError, RuntimeError) as err:
        raise refuse(f"{err}") from err
    _check_state_dict(checkpoint["state_dict"], model.state_dict(), refuse)
    if not may_be_named(checkpoint.get("optimizer_class", "torch.optim.SGD")):
        raise refuse(f"names the optimizer {str(checkpoint['optimizer_class'])[:80]!r}, not a torch.optim one")
    if not scheduler_may_be_named(checkpoint.get("lr_scheduler_class")):
        raise refuse(f"names the lr scheduler {str(checkpoint['lr_scheduler_class'])[:80]!r}, not a torch.optim one")
    global_step = checkpoint.get("global_step")
    if not isinstance(global_step, int) or global_step < 0:
        raise refuse("global_step is missing or negative")
    # Lightning migrates by this version and restores the callbacks' states for every subcommand.
    _check_lightning_version(checkpoint.get("pytorch-lightning_version"), refuse)
    _check_callback_states(checkpoint, Path(path), refuse)
    if resume:
        single = "num_copies" not in hparams and "architectures" not in hparams  # the studies' lrs are per copy
        lr = hparams.get("lr") if single else None
        _check_resumable(checkpoint, len(list(model.parameters())), lr, refuse)
        if single and optimizer is not None and isinstance(lr, (int, float)):
            check_resumed(checkpoint, checkpoint["optimizer_states"][0]["param_groups"], optimizer(cls), lr, refuse)
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


def _check_resumable(checkpoint: dict, n_params: int, lr: Any, refuse: Any) -> None:
    states = checkpoint.get("optimizer_states")
    if not isinstance(states, list) or len(states) != 1 or not isinstance(states[0], dict):
        raise refuse("has no optimizer state to resume from (test, validate or predict can still use it)")
    groups = states[0].get("param_groups")
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise refuse("its optimizer state does not fit the model's parameters")
    if sum(len(g.get("params", [])) for g in groups) != n_params:
        raise refuse("its optimizer state does not fit the model's parameters")
    # A scheduler moves lr and keeps the one it started from in initial_lr: that is the setting.
    if isinstance(lr, (int, float)) and any(g.get("initial_lr", g.get("lr")) != lr for g in groups):
        raise refuse(f"its optimizer's learning rate differs from its hyperparameter lr {lr}")
    loops = checkpoint.get("loops")
    if not isinstance(loops, dict) or not isinstance(loops.get("fit_loop"), dict):
        raise refuse("has no training-loop state to resume from")
    _check_loops(loops, "loops", refuse)
    epoch = checkpoint.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise refuse("its epoch is missing or not a non-negative integer")


# Lightning >= 2.0 writes the loops' state this package resumes; older checkpoints need migrations that
# expect keys ours never had (a KeyError inside Lightning), and a newer Lightning's may not load here.
OLDEST_LIGHTNING = Version("2.0.0")
COUNTERS = frozenset({"ready", "started", "processed", "completed", "_batches_that_stepped"})


def _check_lightning_version(version: Any, refuse: Any) -> None:
    if not isinstance(version, str):
        raise refuse("names no Lightning version")
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise refuse(f"names the Lightning version {version[:40]!r}, which is not a version") from None
    installed = Version(lightning.__version__)
    if parsed < OLDEST_LIGHTNING or parsed.release[:2] > installed.release[:2]:
        raise refuse(
            f"was written by Lightning {parsed}; this one ({installed}) reads checkpoints of "
            f"{OLDEST_LIGHTNING} to {installed.major}.{installed.minor}.x"
        )


def _check_loops(state: Any, where: str, refuse: Any, depth: int = 0) -> None:
    """The loops' state is nested mappings of counters: Lightning adds to them, so each must be a count."""
    if depth > 8 or not isinstance(state, dict):
        raise refuse(f"its training-loop state {where} is not a mapping")
    for key, value in state.items():
        if not isinstance(key, str):
            raise refuse(f"its training-loop state {where} has a key that is not a name")
        if key in COUNTERS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise refuse(f"its training-loop counter {where}.{key} is not a non-negative integer")
        elif key == "is_last_batch":
            if not isinstance(value, bool):
                raise refuse(f"its training-loop flag {where}.{key} is not true or false")
        elif isinstance(value, dict):
            _check_loops(value, f"{where}.{key}", refuse, depth + 1)
        elif not (isinstance(value, list) and all(isinstance(v, dict) for v in value)) and value is not None:
            raise refuse(f"its training-loop state {where}.{key} is not a mapping")


PATH_KEYS = ("best_model_path", "last_model_path", "kth_best_model_path")


def _check_callback_states(checkpoint: dict, path: Path, refuse: Any) -> None:
    """Callback states are restored on resume: each must be what our callbacks wrote.

    ModelCheckpoint deletes the files its state names when it saves a newer one, so a state naming any
    file but a checkpoint beside this one could make a resume delete it.
    """
    callbacks = checkpoint.get("callbacks", {})
    if not isinstance(callbacks, dict):
        raise refuse("its callback states are not a mapping")
    for key, state in callbacks.items():
        if not isinstance(state, dict):
            raise refuse(f"the state of {str(key)[:40]} is not a mapping")
        if str(key).startswith("ModelCheckpoint"):
            _check_model_checkpoint_state(state, refuse)
            # Paths as that run spelled them: each must be a .ckpt file directly in its dirpath, no "..".
            folder = os.path.normpath(str(state.get("dirpath", "")))
            named = [state.get(k) for k in PATH_KEYS] + list((state.get("best_k_models") or {}).keys())
            for file in named:
                if not file:
                    continue
                ok = isinstance(file, str) and ".." not in Path(file).parts and file.endswith(".ckpt")
                if not ok or os.path.normpath(os.path.dirname(file)) != folder:
                    raise refuse(f"its ModelCheckpoint state names {str(file)[:80]!r}, outside its own folder")
        elif str(key).startswith("DecisionBoundary"):
            snaps = state.get("snapshots", [])
            if not isinstance(snaps, list) or not all(
                isinstance(x, (list, tuple))
                and len(x) == 3
                and _is_step(x[0])
                and _is_number(x[1])
                and isinstance(x[2], torch.Tensor)
                and x[2].dim() == 2
                and x[2].is_floating_point()
                for x in snaps
            ):
                raise refuse("its DecisionBoundary snapshots are not (step, cost, grid) entries")
        elif str(key).startswith("LossCurve"):
            steps, costs = state.get("steps", []), state.get("costs", [])
            if not (isinstance(steps, list) and isinstance(costs, list) and len(steps) == len(costs)):
                raise refuse("its LossCurve state does not pair steps with costs")
            if not (all(_is_step(s) for s in steps) and all(_is_number(c) for c in costs)):
                raise refuse("its LossCurve state holds steps or costs that are not numbers")


def _is_step(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_model_checkpoint_state(state: dict, refuse: Any) -> None:
    """What ModelCheckpoint.load_state_dict reads, by type: paths are text, scores numbers or tensors."""

    def score(value: Any) -> bool:
        return value is None or _is_number(value) or (isinstance(value, torch.Tensor) and value.numel() == 1)

    for key in ("best_model_score", "best_model_path"):
        if key not in state:
            raise refuse(f"its ModelCheckpoint state has no {key}")
    for key in ("dirpath", "monitor", *PATH_KEYS):
        if state.get(key) is not None and not isinstance(state[key], str):
            raise refuse(f"its ModelCheckpoint {key} is not text")
    for key in ("best_model_score", "current_score", "kth_value"):
        if not score(state.get(key)):
            raise refuse(f"its ModelCheckpoint {key} is not a score")
    best = state.get("best_k_models") or {}
    if not isinstance(best, dict) or not all(score(v) for v in best.values()):
        raise refuse("its ModelCheckpoint best_k_models is not a mapping of files to scores")
