"""Which optimizer a run builds, said the same way everywhere: config, HParams, checkpoint, resume check.

A single run's optimizer comes from LightningCLI's `--optimizer` (default: the module's own,
`torch.optim.SGD(lr=lr)` for XORClassifier). A checkpoint records its class path; what it may name
is a torch.optim class or one of this package's optimizers, compared as a string, never imported.
The studies name theirs in a short spec, "SGD", "SGD(momentum=0.9)", "Adam(betas=(0.9, 0.99))":
the HParams column uses the same spec for every module.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from xor_lightning.arguments import ConfigError
from xor_lightning.moved import current_class_path

OWN_OPTIMIZERS = frozenset(
    {
        "xor_lightning.backprop_module.NotebookSGD",
        "xor_lightning.studies.per_copy_optimizers.PerCopySGD",
        "xor_lightning.studies.per_copy_optimizers.PerCopyOptimizer",
    }
)  # checkpoints written before the move name them by their old modules (xor_lightning.moved)
# The flags that choose an implementation, not the update: left out of the spec shown in HParams.
IMPLEMENTATION = frozenset({"foreach", "fused", "differentiable", "capturable"})


def class_path(cls: type) -> str:
    """torch.optim.SGD for torch's (not torch.optim.sgd.SGD), module.qualname for any other class; a fast
    twin (FastNotebookSGD) by the class whose update it makes (`twin_of`)."""
    cls = getattr(cls, "twin_of", cls)
    if cls.__module__.startswith("torch.optim") and getattr(torch.optim, cls.__name__, None) is cls:
        return f"torch.optim.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def may_be_named(path: object) -> bool:
    """Whether a checkpoint may name this optimizer class: torch.optim's own, or this package's."""
    if not isinstance(path, str):
        return False
    if current_class_path(path) in OWN_OPTIMIZERS:
        return True
    module, _, name = path.rpartition(".")
    found = getattr(torch.optim, name, None) if module == "torch.optim" else None
    return isinstance(found, type) and issubclass(found, torch.optim.Optimizer)


def plain(value: Any) -> Any:
    """Tuples as lists and 0-d tensors as numbers: how settings compare and how YAML shows them."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def settings(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Every setting of its first param group, lr included (what a checkpoint's state holds)."""
    group = optimizer.param_groups[0]
    return {k: plain(v) for k, v in group.items() if k not in ("params", "initial_lr")}


def probe_settings(cls: type, init_args: dict[str, Any]) -> dict[str, Any]:
    """The settings `cls(params, **init_args)` would have, read from one built on a 1-element tensor."""
    return settings(cls([torch.zeros(1, requires_grad=True)], **init_args))


def spec(optimizer: torch.optim.Optimizer) -> str:
    """ "SGD", "SGD(momentum=0.9)", "Adam": the class and the settings that differ from its defaults, lr aside."""
    cls = getattr(type(optimizer), "twin_of", type(optimizer))
    defaults = {k: plain(p.default) for k, p in inspect.signature(cls).parameters.items() if p.default is not p.empty}
    differ = [
        f"{k}={v!r}"
        for k, v in settings(optimizer).items()
        if k != "lr" and k not in IMPLEMENTATION and k in defaults and defaults[k] != v
    ]
    return f"{cls.__name__}({', '.join(differ)})" if differ else cls.__name__


def columns(trainer: Any) -> dict[str, str]:
    """The HParams columns of the optimizer (and lr scheduler) a fit built; '' before one exists."""
    optimizers = getattr(trainer, "optimizers", None) if trainer is not None else None
    if not optimizers:
        return {}
    schedulers = getattr(trainer, "lr_scheduler_configs", None) or []
    scheduler = type(schedulers[0].scheduler).__name__ if schedulers else "none"
    optimizer = optimizers[0]
    shown = getattr(optimizer, "spec", None)  # the per-copy optimizers say which update each stack gets
    return {"optimizer": shown() if callable(shown) else spec(optimizer), "lr_scheduler": scheduler}


def record(trainer: Any, checkpoint: dict) -> None:
    """What a checkpoint says about its optimizer besides its state: the classes, as plain strings."""
    optimizers = getattr(trainer, "optimizers", None) if trainer is not None else None
    if not optimizers:
        return
    checkpoint["optimizer_class"] = class_path(type(optimizers[0]))
    schedulers = getattr(trainer, "lr_scheduler_configs", None) or []
    checkpoint["lr_scheduler_class"] = class_path(type(schedulers[0].scheduler)) if schedulers else None


def scheduler_may_be_named(path: object) -> bool:
    if path is None:
        return True
    if not isinstance(path, str):
        return False
    module, _, name = path.rpartition(".")
    found = getattr(torch.optim.lr_scheduler, name, None) if module == "torch.optim.lr_scheduler" else None
    schedulers = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    return isinstance(found, type) and issubclass(found, schedulers)


def check_resumed(checkpoint: dict, groups: list[dict], configured: tuple, lr: float, refuse: Any) -> None:
    """Refuse a resume whose optimizer (class, any setting) or lr scheduler is not what the run will build.

    `configured` is (optimizer class, its init args without lr, scheduler class path or None, the scheduler's
    init args); lr is the
    checkpoint's hyperparameter lr, which `XORLightningCLI._compare` has compared with the one asked for.
    """
    cls, init_args, scheduler, scheduler_args = configured
    asked = class_path(cls)
    held = checkpoint.get("optimizer_class", asked)  # checkpoints before --optimizer: the module's own
    if current_class_path(held) != asked:
        raise refuse(
            f"was trained with the optimizer {held}, but the run is configured with {asked}; "
            "a resumed run keeps its optimizer"
        )
    try:
        want = probe_settings(cls, {**init_args, "lr": lr})
    except (ValueError, TypeError) as err:  # torch.optim's own checks: "Invalid momentum value: -1"
        raise ConfigError(f"optimizer {asked}: {err}") from err
    for group in groups:
        have = {k: plain(v) for k, v in group.items() if k not in ("params", "initial_lr")}
        if "initial_lr" in group:  # a scheduler has moved lr since: what it started from is the setting
            have["lr"] = plain(group["initial_lr"])
        differ = [k for k in have if k not in want or have[k] != want[k]]
        if "lr" in differ:
            raise refuse(f"its optimizer's learning rate differs from its hyperparameter lr {lr}")
        if differ:
            pairs = ", ".join(f"{k} {have[k]!r} (configured: {want.get(k, 'none')!r})" for k in differ)
            raise refuse(f"its {held} has {pairs}; a resumed run keeps its optimizer settings")
    held_scheduler = checkpoint.get("lr_scheduler_class")
    if held_scheduler != scheduler:
        raise refuse(
            f"was trained with the lr scheduler {held_scheduler or 'none'}, but the run is configured "
            f"with {scheduler or 'none'}; a resumed run keeps its scheduler"
        )
    states = checkpoint.get("lr_schedulers") or [{}]
    state = states[0] if isinstance(states[0], dict) else {}
    moving = ("last_epoch", "verbose")  # the scheduler's position, not its settings
    differ = [k for k, v in scheduler_args.items() if k not in moving and k in state and plain(state[k]) != plain(v)]
    if differ:
        pairs = ", ".join(f"{k} {plain(state[k])!r} (configured: {plain(scheduler_args[k])!r})" for k in differ)
        raise refuse(f"its lr scheduler {held_scheduler} has {pairs}; a resumed run keeps its scheduler settings")
