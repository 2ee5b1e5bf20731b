"""The command line: `python -m xor_lightning fit|validate|test|predict|compare` (or `xor-lightning ...`).

`main.py` is LightningCLI with the lesson's defaults and one-line errors; beside it the guards, each
checked before anything is written: `inputs` (what was typed), `launch` (settings that cannot work),
`folders` (what the run writes), `checkpoint_files`, `optimizer_args`, `run_names`, `held_logs`
(Lightning's start-up lines, held until the run can start), `startup` and `interrupts` (Ctrl-C), `help`.
"""

from xor_lightning.cli import startup

startup.guard()  # Ctrl-C during the imports below: one line, exit 130 (only when run as the CLI)
startup.one_thread()  # torch's OpenMP runtime starts with the CLI's one thread (unless --num_threads says otherwise)

from xor_lightning.cli.main import XORLightningCLI, main  # noqa: E402

__all__ = ["XORLightningCLI", "main"]
