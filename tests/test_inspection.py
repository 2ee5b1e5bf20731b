"""Inspection callbacks: real TensorBoard event files read back, the pictures, a real TensorBoard server."""

import io
import json
import math
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import lightning as L
import numpy as np
import pytest
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image, ImageSequence
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO
from tests.test_cli_end_to_end import scalars
from xor_lightning import NotebookReport, XORBackpropClassifier, XORClassifier, XORDataModule
from xor_lightning.inspection import DecisionBoundary, GradientNorms, LossCurve, ParameterHistograms
from xor_lightning.pictures import boundary_figure, boundary_image, hypothesis_grid

STEPS, EVERY = 201, 100
IMAGE_EVERY = 10  # 21 images: more than the 10 TensorBoard keeps by default
MODULES = {"autograd": XORClassifier, "backprop": XORBackpropClassifier}


@pytest.fixture(scope="module", params=list(MODULES))
def wide_deep_run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"inspect-{request.param}")
    L.seed_everything(777, verbose=False)
    model = MODULES[request.param](hidden_sizes=[10, 10, 10])
    logger = TensorBoardLogger(root, name="run", default_hp_metric=False)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=STEPS,
        logger=logger,
        enable_progress_bar=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        callbacks=[
            NotebookReport(EVERY),
            GradientNorms(EVERY),
            ParameterHistograms(EVERY),
            DecisionBoundary(IMAGE_EVERY, resolution=32),
            LossCurve(),
        ],
    )
    trainer.fit(model, XORDataModule())
    acc = EventAccumulator(logger.log_dir, size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return model, logger.log_dir, acc, trainer


def test_gradient_norm_per_layer_at_each_interval_and_finite(wide_deep_run):
    _, _, acc, _ = wide_deep_run
    for layer in range(1, 5):
        for kind in ("weight", "bias"):
            events = acc.Scalars(f"grad_norm/layer{layer}.{kind}")
            assert [e.step for e in events] == [0, 100, 200]
            assert all(math.isfinite(e.value) and e.value > 0 for e in events)


def test_wide_deep_gradient_vanishes_towards_the_first_layer(wide_deep_run):
    _, _, acc, _ = wide_deep_run
    first = acc.Scalars("grad_norm/layer1.weight")[0].value
    last = acc.Scalars("grad_norm/layer4.weight")[0].value
    assert first < last / 10, (first, last)


def test_histograms_of_parameters_and_activations_at_each_interval(wide_deep_run):
    _, _, acc, _ = wide_deep_run
    expected = [f"params/layer{k}.{kind}" for k in range(1, 5) for kind in ("weight", "bias")]
    expected += [f"activations/layer{k}" for k in range(1, 5)]
    for tag in expected:
        events = acc.Histograms(tag)
        assert [e.step for e in events] == [0, 100, 200], tag
        assert all(math.isfinite(e.histogram_value.sum) for e in events)
    # Four inputs times ten units: the first hidden layer's histogram counts 40 activations.
    first = acc.Histograms("activations/layer1")[0].histogram_value
    assert first.num == 40 and sum(first.bucket) == 40
    assert len(first.bucket) <= 31  # 30 equal bins over the range, not ~1500 exponential ones


def test_decision_boundary_image_at_every_interval_from_step_0(wide_deep_run):
    _, _, acc, _ = wide_deep_run
    images = acc.Images("decision_boundary")
    assert [e.step for e in images] == list(range(0, STEPS, IMAGE_EVERY))
    first = np.asarray(Image.open(io.BytesIO(images[0].encoded_image_string)))
    assert first.ndim == 3 and min(first.shape[:2]) >= 256


def test_pictures_in_the_run_folder(wide_deep_run):
    _, log_dir, _, trainer = wide_deep_run
    with Image.open(f"{log_dir}/decision_boundary.png") as png:
        picture = np.asarray(png.convert("RGB"))
    assert min(picture.shape[:2]) >= 200 and picture.std() > 10  # a picture, not a blank
    with Image.open(f"{log_dir}/loss_curve.png") as png:
        assert min(png.size) >= 200 and np.asarray(png.convert("RGB")).std() > 10
    boundary = next(c for c in trainer.callbacks if isinstance(c, DecisionBoundary))
    assert [s for s, _, _ in boundary.snapshots] == list(range(0, STEPS, IMAGE_EVERY))
    with Image.open(f"{log_dir}/training.gif") as gif:
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
        assert gif.info["loop"] == 0
    assert len(frames) == len(boundary.snapshots) + 1  # one per snapshot, then the final state
    assert all(f.shape == frames[0].shape for f in frames)
    assert not list(Path(log_dir).glob("*.tmp"))


def test_loss_curve_and_gif_frames_carry_the_printed_costs(wide_deep_run):
    _, _, acc, trainer = wide_deep_run
    printed = [(e.step, e.value) for e in acc.Scalars("train_loss")]
    curve = next(c for c in trainer.callbacks if isinstance(c, LossCurve))
    assert list(zip(curve.steps, curve.costs, strict=True)) == printed  # same float32 values, exactly
    boundary = next(c for c in trainer.callbacks if isinstance(c, DecisionBoundary))
    assert [(s, c) for s, c, _ in boundary.snapshots if s % EVERY == 0] == printed


def test_decision_boundary_differs_between_untrained_and_trained_net(tiny_trainer):
    L.seed_everything(777, verbose=False)
    model = XORClassifier(hidden_sizes=[2])
    grid = hypothesis_grid(model, 32)
    before = boundary_figure(grid, "before"), boundary_image(grid, 0)
    trainer, _ = tiny_trainer(3000)
    trainer.fit(model, XORDataModule())
    grid = hypothesis_grid(model, 32)
    after = boundary_figure(grid, "after"), boundary_image(grid, 0)
    for untrained, trained in zip(before, after, strict=True):
        assert untrained.shape == trained.shape and untrained.dtype == np.uint8
        assert np.abs(untrained.astype(int) - trained.astype(int)).mean() > 5


@pytest.mark.parametrize("module", list(MODULES))
def test_pictures_continue_across_a_resume(module, tmp_path):
    def fit(max_steps: int, ckpt_path=None, callbacks=None) -> tuple[DecisionBoundary, LossCurve, L.Trainer]:
        L.seed_everything(777, verbose=False)
        callbacks = callbacks or [DecisionBoundary(EVERY, resolution=8), LossCurve(EVERY)]
        trainer = L.Trainer(
            accelerator="cpu",
            max_steps=max_steps,
            logger=TensorBoardLogger(tmp_path, name="run", version=0, default_hp_metric=False),
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            limit_val_batches=0,
            callbacks=callbacks,
        )
        trainer.fit(MODULES[module](hidden_sizes=[2]), XORDataModule(), ckpt_path=ckpt_path, weights_only=True)
        return *callbacks, trainer

    *_, first = fit(101)
    first.save_checkpoint(tmp_path / "half.ckpt")
    boundary, curve, _ = fit(201, tmp_path / "half.ckpt")
    assert [s for s, _, _ in boundary.snapshots] == curve.steps == [0, 100, 200]
    with Image.open(tmp_path / "run/version_0/training.gif") as gif:
        assert gif.n_frames == 4
    fit(101, callbacks=[boundary, curve])  # the same callbacks in a fit from scratch start afresh
    assert [s for s, _, _ in boundary.snapshots] == curve.steps == [0, 100]


def test_fit_records_hparams_with_final_loss_and_accuracy_and_no_hp_metric(tmp_path):
    from tests.conftest import REPO, run_cli

    result = run_cli("fit", "-c", str(REPO / "configs/xor_nn.yaml"), "--trainer.max_steps=101", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "logs/xor_nn/version_0"
    tags = scalars(run)
    assert "hp_metric" not in tags
    assert tags["hp/final_train_loss"][0][1] == pytest.approx(tags["train_loss"][-1][1])
    assert tags["hp/accuracy"][0][1] in (0.25, 0.5, 0.75, 1.0)
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
    assert acc.Tags()["graph"]  # log_graph with example_input_array


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def makefile_tensorboard_flags() -> list[str]:
    """The flags `make tensorboard` passes, so the test serves the logs as a user sees them."""
    line = next(x for x in (REPO / "Makefile").read_text().splitlines() if "/tensorboard --logdir" in x)
    return re.findall(r"--samples_per_plugin \S+", line)[0].split()


def test_tensorboard_server_serves_the_run_its_scalars_and_every_image(wide_deep_run):
    _, log_dir, _, _ = wide_deep_run
    logdir = str(log_dir).rsplit("/run/", 1)[0]
    port = free_port()
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd + makefile_tensorboard_flags(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        runs: list = []
        while time.monotonic() < deadline:
            try:
                runs = get_json(f"{base}/data/runs")
                if runs:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert any(r.startswith("run/version_") for r in runs), runs
        tags = get_json(f"{base}/data/plugin/scalars/tags")
        run = next(r for r in runs if r.startswith("run/version_"))
        assert {"train_loss", "grad_norm/layer1.weight"} <= set(tags[run])
        query = urllib.parse.urlencode({"run": run, "tag": "decision_boundary", "sample": 0})
        images = get_json(f"{base}/data/plugin/images/images?{query}")
        assert [i["step"] for i in images] == list(range(0, STEPS, IMAGE_EVERY))  # step 0 included
        with urllib.request.urlopen(f"{base}/data/plugin/images/individualImage?{images[0]['query']}") as response:
            assert Image.open(io.BytesIO(response.read())).size[0] >= 256
    finally:
        server.terminate()
        server.wait(timeout=30)
