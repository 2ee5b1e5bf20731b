"""xor-lightning: the XOR backpropagation lesson as a PyTorch Lightning project."""

from xor_lightning import startup

startup.guard()  # before torch and Lightning are imported; only when run as the CLI

from xor_lightning import quiet
from xor_lightning.backprop_classifier import XORBackpropClassifier
from xor_lightning.base import XORModule
from xor_lightning.callbacks import NotebookReport, StopOnInterrupt
from xor_lightning.classifier import XORClassifier
from xor_lightning.data import XORDataModule, xor_truth_table
from xor_lightning.ensemble import XOREnsemble
from xor_lightning.network import SigmoidMLP

quiet.install()

__all__ = [
    "NotebookReport",
    "SigmoidMLP",
    "StopOnInterrupt",
    "XORBackpropClassifier",
    "XORClassifier",
    "XORDataModule",
    "XOREnsemble",
    "XORModule",
    "xor_truth_table",
]
