"""Inspection callbacks: real TensorBoard event files read back, the PNG, a real TensorBoard server."""

import json
import math
import socket
import subprocess
import sys
import time
import urllib.request

import lightning as L
import numpy as np
import pytest
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.test_cli_end_to_end import scalars
from xor_lightning import NotebookReport, XORBackpropClassifier, XORClassifier, XORDataModule
from xor_lightning.inspection import (
    DecisionBoundary,
    GradientNorms,
    ParameterHistograms,
    boundary_image,
    hypothesis_grid,
    render,
)

STEPS, EVERY = 201, 100
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
            DecisionBoundary(EVERY, resolution=32),
        ],
    )
    trainer.fit(model, XORDataModule())
    acc = EventAccumulator(logger.log_dir, size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return model, logger.log_dir, acc


def test_gradient_norm_per_layer_at_each_interval_and_finite(wide_deep_run):
    _, _, acc = wide_deep_run
    for layer in range(1, 5):
        for kind in ("weight", "bias"):
            events = acc.Scalars(f"grad_norm/layer{layer}.{kind}")
            assert [e.step for e in events] == [0, 100, 200]
            assert all(math.isfinite(e.value) and e.value > 0 for e in events)


def test_wide_deep_gradient_vanishes_towards_the_first_layer(wide_deep_run):
    _, _, acc = wide_deep_run
    first = acc.Scalars("grad_norm/layer1.weight")[0].value
    last = acc.Scalars("grad_norm/layer4.weight")[0].value
    assert first < last / 10, (first, last)


def test_histograms_of_parameters_and_activations_at_each_interval(wide_deep_run):
    _, _, acc = wide_deep_run
    expected = [f"params/layer{k}.{kind}" for k in range(1, 5) for kind in ("weight", "bias")]
    expected += [f"activations/layer{k}" for k in range(1, 5)]
    for tag in expected:
        events = acc.Histograms(tag)
        assert [e.step for e in events] == [0, 100, 200], tag
        assert all(math.isfinite(e.histogram_value.sum) for e in events)
    # Four inputs times ten units: the first hidden layer's histogram counts 40 activations.
    assert acc.Histograms("activations/layer1")[0].histogram_value.num == 40


def test_decision_boundary_series_and_png(wide_deep_run):
    _, log_dir, acc = wide_deep_run
    assert [e.step for e in acc.Images("decision_boundary")] == [0, 100, 200]
    png = imread(f"{log_dir}/decision_boundary.png")
    assert png.ndim == 3 and png.shape[0] >= 100 and png.shape[1] >= 100
    assert float(png[..., :3].std()) > 0.05  # a picture, not a blank


def test_decision_boundary_differs_between_untrained_and_trained_net(tiny_trainer):
    L.seed_everything(777, verbose=False)
    model = XORClassifier(hidden_sizes=[2])
    before = render(model, 32, 0), boundary_image(hypothesis_grid(model, 32))
    trainer, _ = tiny_trainer(3000)
    trainer.fit(model, XORDataModule())
    after = render(model, 32, 3000), boundary_image(hypothesis_grid(model, 32))
    for untrained, trained in zip(before, after, strict=True):
        assert untrained.shape == trained.shape and untrained.dtype == np.uint8
        assert np.abs(untrained.astype(int) - trained.astype(int)).mean() > 5


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


def test_tensorboard_server_serves_the_run_and_its_scalars(wide_deep_run):
    _, log_dir, _ = wide_deep_run
    logdir = str(log_dir).rsplit("/run/", 1)[0]
    port = free_port()
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    finally:
        server.terminate()
        server.wait(timeout=30)
