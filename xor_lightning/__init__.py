"""xor-lightning: the XOR backpropagation lesson as a PyTorch Lightning project.

Importing the package imports nothing else and changes no global state: each name below is imported
from its module the first time it is used (PEP 562). The CLI (`python -m xor_lightning`) and the
notebook's helpers opt in to the quieting of library messages (`xor_lightning.quiet`).

Read in this order: data -> network -> backprop -> xor_module, autograd_module, backprop_module ->
report, guards, inspection -> cli. The studies (many seeds at once) are in `xor_lightning.studies`.
"""

from __future__ import annotations

import importlib
from typing import Any

from xor_lightning.moved import MOVED

# public name -> the module that defines it
EXPORTS = {
    "xor_truth_table": "data",
    "XORDataModule": "data",
    "SigmoidMLP": "network",
    "XORModule": "xor_module",
    "XORClassifier": "autograd_module",
    "XORBackpropClassifier": "backprop_module",
    "NotebookReport": "report",
    "NonFiniteGuard": "guards",
    "XOREnsemble": "studies.ensemble",
    "XORStudyGrid": "studies.grid",
    "StopOnInterrupt": "cli.interrupts",
}
__all__ = sorted(EXPORTS)


class _MovedModule:
    """What an old module name (`xor_lightning.classifier`) answers: the classes of the modules that hold them now."""

    def __init__(self, old: str, modules: tuple[str, ...]) -> None:
        self._old, self._modules = old, modules

    def __getattr__(self, name: str) -> Any:
        for module in self._modules:
            found = getattr(importlib.import_module(f"xor_lightning.{module}"), name, None)
            if found is not None:
                return found
        raise AttributeError(f"xor_lightning.{self._old} (now {', '.join(self._modules)}) has no {name}")


def __getattr__(name: str) -> Any:
    if name in EXPORTS:
        return getattr(importlib.import_module(f"xor_lightning.{EXPORTS[name]}"), name)
    if name in MOVED:
        return _MovedModule(name, MOVED[name])
    raise AttributeError(f"module 'xor_lightning' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
