"""What a class trips over on the command line, through the real CLI in a subprocess: the help names
the two options a student wants, a misspelled key gets its correction, a bare number for hidden_sizes
gets an example, the hand-backprop summary explains its 0 trainable params, and `compare` overlays runs."""

import pytest
from PIL import Image

from tests.conftest import REPO, assert_refused_in_one_line, run_cli, tree
from xor_lightning.cli.compare import label


def test_help_describes_the_tool_and_the_two_options_a_student_wants(tmp_path):
    for args in (["--help"], ["fit", "--help"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        head = result.stdout[: result.stdout.index("options:")]
        assert "Lightning Trainer command line tool" not in head
        assert "--model.init_args.hidden_sizes" in head and "--model.init_args.lr" in head
    assert "XOR" in run_cli("--help", cwd=tmp_path).stdout.split("options:")[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--trainer.max_step=5"], "(--trainer.max_step: did you mean --trainer.max_steps?)"),
        (["--model.init_args.hiden_sizes=[4]"], "did you mean --model.init_args.hidden_sizes?"),
        (["--model.init_args.hidden_sizes", "4"], "hidden_sizes must be a list such as [4]"),
    ],
    ids=["max_step", "hiden_sizes", "bare-number"],
)
def test_a_mistyped_option_says_what_to_type(args, expected, tmp_path):
    before = tree(tmp_path)
    result = run_cli("fit", "-c", str(REPO / "configs/xor_nn.yaml"), *args, cwd=tmp_path)
    assert_refused_in_one_line(result, expected)
    assert tree(tmp_path) == before  # nothing written


def test_the_hand_backprop_summary_explains_its_zero_trainable_params(tmp_path):
    result = run_cli("fit", "-c", str(REPO / "configs/xor_backprop.yaml"), "--trainer.max_steps=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.split() == ["0", "Trainable", "params"])
    note = next(line for line in lines[summary:] if line.startswith("note:"))
    assert "9 parameters are updated by hand" in note


def test_compare_overlays_two_architectures_in_one_png(tmp_path):
    config = str(REPO / "configs/xor_nn.yaml")
    for extra in ([], ["--model.init_args.hidden_sizes=[4, 4]"]):
        result = run_cli("fit", "-c", config, "--trainer.max_steps=301", *extra, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    runs = [tmp_path / "logs/xor_nn/version_0", tmp_path / "logs/xor_nn/2-4-4-1_lr1/version_0"]
    assert [label(r) for r in runs] == ["2-2-1, lr 1 (xor_nn/version_0)", "2-4-4-1, lr 1 (2-4-4-1_lr1/version_0)"]
    result = run_cli("compare", *map(str, runs), "-o", "both.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "both.png") as png:
        assert png.size[0] >= 800
    # One folder above both finds the same two runs.
    assert "2 runs" in run_cli("compare", "logs/xor_nn", "-o", "above.png", cwd=tmp_path).stdout


def test_compare_refuses_a_folder_without_runs_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    before = tree(tmp_path)
    for args, expected in ((["empty"], "no run under it"), (["missing"], "not a folder"), ([], "required: RUN")):
        assert_refused_in_one_line(run_cli("compare", *args, cwd=tmp_path), expected)
    assert tree(tmp_path) == before
