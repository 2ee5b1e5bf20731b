"""Checkpoints and configs written before the package's new layout still work (tests/fixtures/before_redesign).

Each fixture is a 20-step run of commit 7cea049 (the last commit before the layout), its last.ckpt and the
config.yaml it wrote: they name classes by the old module paths (`xor_lightning.study_grid.XORStudyGrid`,
`xor_lightning.backprop_classifier.NotebookSGD`, `xor_lightning.profiler.NoProfiler`, ...).
"""

from __future__ import annotations

import shutil

import pytest
import torch

from tests.conftest import REPO, run_cli
from xor_lightning import XORBackpropClassifier, XORClassifier, XOREnsemble, XORModule, XORStudyGrid

FIXTURES = REPO / "tests/fixtures/before_redesign"
CLASSES = {
    "xor_nn": XORClassifier,
    "xor_backprop": XORBackpropClassifier,
    "study_xor_nn": XOREnsemble,
    "study_grid": XORStudyGrid,
}


@pytest.mark.parametrize("run", list(CLASSES))
def test_an_old_checkpoint_loads_as_its_module_with_its_weights(run):
    path = FIXTURES / run / "last.ckpt"
    saved = torch.load(path, weights_only=True)
    model = XORModule.load_from_checkpoint(path)
    assert type(model) is CLASSES[run]
    assert CLASSES[run].load_from_checkpoint(path).hparams == model.hparams
    state = model.state_dict()
    assert set(state) == set(saved["state_dict"])
    assert all(torch.equal(state[k], v) for k, v in saved["state_dict"].items())


def copy_fixture(run, tmp_path):
    folder = tmp_path / "old" / run
    shutil.copytree(FIXTURES / run, folder)
    return folder


def test_an_old_hand_backprop_checkpoint_resumes_with_todays_config_exactly(tmp_path):
    # It names its optimizer xor_lightning.backprop_classifier.NotebookSGD: the same update, moved.
    old = copy_fixture("xor_backprop", tmp_path)
    config = str(REPO / "configs/xor_backprop.yaml")
    resumed = run_cli("fit", "-c", config, "--trainer.max_steps=40", f"--ckpt_path={old / 'last.ckpt'}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    straight = run_cli("fit", "-c", config, "--trainer.max_steps=40", cwd=tmp_path / "old")
    assert straight.returncode == 0, straight.stderr
    hypothesis = resumed.stdout[resumed.stdout.index("hypothesis:") :]
    assert hypothesis == straight.stdout[straight.stdout.index("hypothesis:") :]  # the same bits, 20 + 20 steps


def test_an_old_config_with_old_class_paths_resumes_its_old_checkpoint(tmp_path):
    # config.yaml names xor_lightning.study_grid.XORStudyGrid, grid_report.GridReport, progress.Progress and
    # profiler.NoProfiler: their old modules answer with the new ones.
    old = copy_fixture("study_grid", tmp_path)
    text = (old / "config.yaml").read_text()
    assert "xor_lightning.study_grid.XORStudyGrid" in text and "xor_lightning.profiler.NoProfiler" in text
    result = run_cli(
        "fit",
        "-c",
        str(old / "config.yaml"),
        "--trainer.max_steps=30",
        f"--ckpt_path={old / 'last.ckpt'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "logs/study_grid.csv").is_file()


def test_an_old_class_path_in_a_config_builds_todays_class(tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text(
        "model:\n  class_path: xor_lightning.classifier.XORClassifier\n"
        "trainer:\n  profiler:\n    class_path: xor_lightning.profiler.NoProfiler\n"
    )
    result = run_cli("fit", "-c", str(config), "--trainer.max_steps=3", "--trainer.logger=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "accuracy:" in result.stdout
    model = run_cli("test", "-c", str(config), f"--ckpt_path={FIXTURES / 'xor_nn/last.ckpt'}", cwd=tmp_path)
    assert model.returncode == 0, model.stderr
