"""LightningCLI's `--optimizer` / `--lr_scheduler` for this package: one lr, checked before anything runs.

The run has ONE learning rate, the model's `lr` hyperparameter (in hparams.yaml, the HParams table, the
checkpoint and the resume check). `--optimizer.lr X` is another way to set it: the model's lr becomes X.
Without `--optimizer.lr` the optimizer takes the model's lr, so `--optimizer torch.optim.SGD` is the
default update at lr 1. Both given, with different values: refused in one line.
"""

from __future__ import annotations

import sys
from typing import Any

from jsonargparse import Namespace

from xor_lightning.arguments import ConfigError


def _init_args(entry: Any) -> dict[str, Any]:
    init = entry.get("init_args") if isinstance(entry, Namespace) else None
    return init.as_dict() if isinstance(init, Namespace) else {}


def resolve(class_path: str) -> type:
    """The class jsonargparse imported for this class_path (it parsed it: nothing new is imported)."""
    module, _, name = class_path.rpartition(".")
    found = getattr(sys.modules.get(module), name, None)
    if not isinstance(found, type):
        raise ConfigError(f"optimizer: cannot find the class {class_path}")
    return found


def check_optimizer_config(subcommand: str, config: Namespace, explicit: dict[str, Any], model_cls: Any) -> None:
    """Refuse what cannot work and make the model's lr the one lr; before the checkpoint is compared."""
    optimizer, scheduler = config.get("optimizer"), config.get("lr_scheduler")
    if optimizer is None:
        if scheduler is not None and subcommand == "fit":
            raise ConfigError("--lr_scheduler needs an --optimizer to schedule, e.g. --optimizer torch.optim.SGD")
        return
    reason = getattr(model_cls, "own_update_reason", None)
    if reason and subcommand == "fit":
        raise ConfigError(f"--optimizer: {model_cls.__name__} builds its own optimizer ({reason})")
    model_init = config.model.get("init_args")
    if model_init is None or "lr" not in model_init:
        return  # a module without an lr (the user's own): the optimizer's init args are all there is
    optimizer_lr = optimizer.init_args.get("lr") if isinstance(optimizer.get("init_args"), Namespace) else None
    if "lr" in explicit["optimizer"]["keys"]:
        if "lr" in explicit["keys"] and model_init.lr != optimizer_lr:
            raise ConfigError(
                f"--optimizer.lr {optimizer_lr} contradicts the model's lr {model_init.lr}: the run has one "
                "learning rate, give it once (--optimizer.lr sets the model's lr)"
            )
        model_init.lr = optimizer_lr
        explicit["keys"].add("lr")  # asked for explicitly: a resume compares it with the checkpoint's


def follow_model_lr(config: Namespace) -> None:
    """Once the checkpoint's hyperparameters are in: the optimizer's lr is the model's."""
    optimizer, model_init = config.get("optimizer"), config.model.get("init_args")
    if optimizer is None or model_init is None or "lr" not in model_init:
        return
    if not isinstance(optimizer.get("init_args"), Namespace):
        optimizer.init_args = Namespace()
    optimizer.init_args.lr = model_init.lr


def configured(config: Namespace, model_cls: Any) -> tuple:
    """What a resumed fit will build: (optimizer class, init args but lr, scheduler class path, its init args)."""
    optimizer, scheduler = config.get("optimizer"), config.get("lr_scheduler")
    if optimizer is None:
        return (model_cls.default_optimizer(), {}, None, {})
    init = {k: v for k, v in _init_args(optimizer).items() if k != "lr"}
    scheduler_path = None
    if scheduler is not None:
        from xor_lightning.optimizers import class_path

        scheduler_path = class_path(resolve(str(scheduler.class_path)))
    return (resolve(str(optimizer.class_path)), init, scheduler_path, _init_args(scheduler))
