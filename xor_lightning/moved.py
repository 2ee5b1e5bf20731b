"""Where the package's modules lived before the December 2026 layout: configs and checkpoints written
before it name classes by those paths (`xor_lightning.classifier.XORClassifier`), and still load.

Only names: nothing here imports anything. The package's `__getattr__` answers an old module name
with the modules that now hold its classes (so jsonargparse finds `xor_lightning.study.StudyReport`),
and the checkpoint reader accepts a module's old class path as its own.
"""

from __future__ import annotations

# old module name -> the module(s) now holding what it held, relative to xor_lightning
MOVED: dict[str, tuple[str, ...]] = {
    "base": ("xor_module", "guards"),
    "classifier": ("autograd_module",),
    "backprop_classifier": ("backprop_module",),
    "backprop_step": ("backprop_fast",),
    "chunks": ("backprop_fast",),
    "callbacks": ("report", "cli.interrupts"),
    "checks": ("arguments", "resources"),
    "profiler": ("speed",),
    "copies": ("studies.copies",),
    "copies_module": ("studies.copies_module",),
    "ensemble": ("studies.ensemble",),
    "study_grid": ("studies.grid",),
    "study": ("studies.ensemble_report",),
    "grid_report": ("studies.grid_report",),
    "study_settings": ("studies.settings",),
    "study_plot": ("studies.plots",),
    "per_copy_sgd": ("studies.per_copy_optimizers",),
    "per_copy_optim": ("studies.per_copy_optimizers",),
    "sharding": ("studies.sharding",),
    "progress": ("studies.progress",),
    "diagnosis": ("studies.diagnosis",),
    "inputs": ("cli.inputs",),
    "logs": ("cli.held_logs",),
    "startup": ("cli.startup",),
    "cli_help": ("cli.help",),
    "cli_optimizers": ("cli.optimizer_args",),
    "run_names": ("cli.run_names",),
    "compare": ("cli.compare",),
}


def old_class_paths(module: str, name: str) -> list[str]:
    """The class paths a class of `module` (xor_lightning.X) had before the move: a checkpoint may name them."""
    short = module.removeprefix("xor_lightning.")
    return [f"xor_lightning.{old}.{name}" for old, new in MOVED.items() if short in new]


def current_class_path(path: str) -> str:
    """An old class path as it is now spelled, where its old module moved whole into one; else unchanged."""
    module, _, name = path.rpartition(".")
    old = module.removeprefix("xor_lightning.")
    new = MOVED.get(old) if module.startswith("xor_lightning.") else None
    return f"xor_lightning.{new[0]}.{name}" if new and len(new) == 1 else path
