"""What the command line says to a student: its --help, and hints on a misspelled or malformed option.

Kept out of cli.py: `explain` rewrites a one-line error message, `PARSER_KWARGS` describes the tool,
`extra_subcommand` runs `compare`; cli.py calls each from one place.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import re
from functools import cache

from jsonargparse import DefaultHelpFormatter

DESCRIPTION = """Train and inspect the networks of the XOR backpropagation lesson (PyTorch Lightning).

Start with:  xor-lightning fit -c configs/xor_nn.yaml
The two options to try first:
  --model.init_args.hidden_sizes "[4, 4]"   hidden layer widths ([] is the perceptron, [2] the lesson's net)
  --model.init_args.lr 0.5                  the SGD learning rate (the lesson's is 1)
Compare runs on one picture:  xor-lightning compare logs/xor_nn/version_0 logs/xor_nn/2-4-4-1_lr1/version_0
`fit --help` lists every option (the Trainer's too); `fit --model.help XORClassifier` the model's."""

FIT_DESCRIPTION = """Train a network (configs/*.yaml hold the lesson's experiments).

The two options to try first:
  --model.init_args.hidden_sizes "[4, 4]"   hidden layer widths ([] is the perceptron)
  --model.init_args.lr 0.5                  the SGD learning rate
Below: every option, Lightning's Trainer included."""


class KeepLines(argparse.RawDescriptionHelpFormatter, DefaultHelpFormatter):
    """jsonargparse's help, with the description's lines as written (the options are aligned by hand)."""


PARSER_KWARGS = {
    "prog": "xor-lightning",
    "description": DESCRIPTION,
    "formatter_class": KeepLines,
    "fit": {"description": FIT_DESCRIPTION, "formatter_class": KeepLines},
}


def extra_subcommand(args: list[str]) -> bool:
    """Runs `compare` (not a Lightning subcommand) and returns True, or returns False for the rest."""
    if args[:1] != ["compare"]:
        return False
    from xor_lightning.cli.compare import main

    main(args[1:])
    return True


@cache
def _known_options() -> dict[str, list[str]]:
    """Option names by section, from the signatures the CLI builds its parser from."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from xor_lightning.cli.checkpoint_files import model_classes
    from xor_lightning.data import XORDataModule
    from xor_lightning.report import NotebookReport

    def names(fn) -> list[str]:
        return [p for p in inspect.signature(fn).parameters if p not in ("self", "args", "kwargs")]

    model = sorted({p for cls in model_classes().values() for p in names(cls.__init__)})
    return {
        "trainer": names(L.Trainer.__init__),
        "model": model,
        "data": names(XORDataModule.__init__),
        "checkpoint": names(ModelCheckpoint.__init__),
        "report": names(NotebookReport.__init__),
    }


def _all_options() -> list[str]:
    known = _known_options()
    flat = ["--config", "--print_config", "--ckpt_path", "--seed_everything", "--num_threads", "--weights_only"]
    flat += [f"--{section}.{name}" for section, items in known.items() if section != "model" for name in items]
    flat += [f"--model.init_args.{name}" for name in known["model"]]
    return flat


def suggestion(typed: str) -> str | None:
    """The known option closest to a misspelled one, e.g. --trainer.max_step -> --trainer.max_steps."""
    key = typed.split("=")[0]
    options = _all_options()
    if key.startswith("--model.") and not key.startswith("--model.init_args."):
        key = "--model.init_args." + key[len("--model.") :]
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.8)
    return close[0] if close else None


def explain(message: str) -> str:
    """The one-line error, with what to type instead where that is known."""
    unknown = re.search(r"unrecognized arguments: (--\S+)", message, flags=re.I)
    if unknown:
        better = suggestion(unknown.group(1))
        return f"{message} ({unknown.group(1).split('=')[0]}: did you mean {better}?)" if better else message
    option = re.search(r"^(\w+): Option '(\w+)' is not accepted", message)
    if option:
        section, name = option.groups()
        close = difflib.get_close_matches(name, _known_options().get(section, []), n=1, cutoff=0.7)
        if close:
            where = "model.init_args" if section == "model" else section
            return f"{message}: did you mean --{where}.{close[0]}?"
        return message
    sizes = re.search(r"hidden_sizes: Expected a <class 'collections\.abc\.Sequence'>\. Got value: (.*)$", message)
    if sizes:
        return (
            "model.init_args.hidden_sizes must be a list such as [4] (one hidden layer of 4 units) "
            f'or [4, 4] (two), quoted on the command line: --model.init_args.hidden_sizes "[4]"; got {sizes.group(1)}'
        )
    return message
