"""Redraw the pictures the README shows (`make docs`): one fit of the shipped wide-deep config, copied here.

The wide-deep net is the one whose pictures tell the most: ~5000 steps on the ln 2 plateau, then the
drop, and a decision boundary that forms late. The fit runs through the CLI, as a user runs it, in a
temporary folder; the TensorBoard image is the last `decision_boundary` image of its event file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
EXPERIMENT = "xor_nn_wide_deep"
MAX_BYTES = 200_000  # pictures checked into git stay small


def small_gif(source: Path, target: Path) -> None:
    """The README's copy of training.gif at a third of its projector size, within MAX_BYTES."""
    import numpy as np
    from PIL import Image, ImageSequence

    from xor_lightning.pictures import write_gif

    with Image.open(source) as gif:
        frames = [
            np.asarray(f.convert("RGB").resize((f.width // 3, f.height // 3), Image.Resampling.BOX))
            for f in ImageSequence.Iterator(gif)
        ]
    write_gif(frames, target)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "xor_lightning", "fit", "-c", str(REPO / f"configs/{EXPERIMENT}.yaml")]
        fit = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if fit.returncode != 0:
            print(fit.stderr, file=sys.stderr)
            return fit.returncode
        run = Path(tmp) / "logs" / EXPERIMENT / "version_0"
        for name in ("decision_boundary.png", "loss_curve.png"):
            shutil.copyfile(run / name, DOCS / name)
        small_gif(run / "training.gif", DOCS / "training.gif")
        events = EventAccumulator(str(run), size_guidance={"images": 0})
        events.Reload()
        (DOCS / "tensorboard_boundary.png").write_bytes(events.Images("decision_boundary")[-1].encoded_image_string)
    too_big = []
    for name in ("decision_boundary.png", "loss_curve.png", "training.gif", "tensorboard_boundary.png"):
        size = (DOCS / name).stat().st_size
        print(f"docs/{name}: {size / 1000:.0f} KB")
        if size > MAX_BYTES:
            too_big.append(name)
    if too_big:
        print(f"error: over {MAX_BYTES // 1000} KB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
