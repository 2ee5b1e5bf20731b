"""Run folders that say what was run: a command-line change of the model adds a folder naming it.

`-c configs/xor_nn.yaml` runs what the config's logger name says: logs/xor_nn/version_N. With
`--model.init_args.hidden_sizes "[4, 4]"` it is no longer that network, so the run goes to
logs/xor_nn/2-4-4-1_lr1/version_N: TensorBoard's run list, `--ckpt_path last` and `compare` then tell
runs apart by what they trained, not by version numbers. A logger name or version given on the
command line is the user's own choice and is kept as it is.
"""

from __future__ import annotations

from typing import Any

from jsonargparse import Namespace

SINGLE_NETWORKS = ("XORClassifier", "XORBackpropClassifier")  # one network, one lr: a folder can name it


def run_label(hidden_sizes: Any, lr: Any) -> str:
    """ "2-4-4-1_lr1": the architecture and the learning rate, as a folder name."""
    return "-".join(str(n) for n in [2, *hidden_sizes, 1]) + f"_lr{float(lr):g}"


def _names(args: list[str], prefix: str) -> bool:
    return any(a == prefix.rstrip(".") or a.startswith(prefix) for a in args)


def name_run_folder(config: Namespace, args: list[str]) -> None:
    """Adds ARCH_lrLR under the logger's name when the command line changed the model's class, sizes or lr."""
    logger = config.trainer.get("logger")
    model = config.get("model")
    if (
        not isinstance(logger, Namespace)
        or not isinstance(model, Namespace)
        or config.get("ckpt_path") not in (None, "last")
    ):
        return
    init = logger.get("init_args")
    if init is None or "name" not in init or _names(args, "--trainer.logger"):
        return  # not a logger with a name, or the user chose the folder
    if str(model.get("class_path")).rpartition(".")[2] not in SINGLE_NETWORKS:
        return  # a study's config names the whole study; its folder stays
    changed = [a for a in args if a.split("=")[0].rstrip("+") in ("--model", "--model.class_path")]
    changed += [a for a in args if a.startswith(("--model.init_args.hidden_sizes", "--model.init_args.lr"))]
    changed += [a for a in args if a.startswith(("--model.hidden_sizes", "--model.lr"))]
    params = model.get("init_args") or Namespace()
    if not changed or params.get("hidden_sizes") is None or not isinstance(params.get("lr"), (int, float)):
        return
    init.name = f"{init.name or 'xor'}/{run_label(params.hidden_sizes, params.lr)}"
