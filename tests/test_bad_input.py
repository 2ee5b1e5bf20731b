"""Bad input ends in one readable line on stderr, a non-zero exit, and nothing written."""

import pickle
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, run_cli, tree
from xor_lightning.cli.main import main

CONFIG = str(REPO / "configs/xor_nn.yaml")

BAD_INPUTS = {
    "lr negative": (["fit", "--model.init_args.lr", "-1"], "lr must be in (0, 100]"),
    "lr zero": (["fit", "--model.init_args.lr", "0"], "lr must be in (0, 100]"),
    "lr nan": (["fit", "--model.init_args.lr", "nan"], "lr"),
    "lr inf": (["fit", "--model.init_args.lr", "inf"], "lr"),
    "lr text": (["fit", "--model.init_args.lr", "abc"], "model.lr: Expected a <class 'float'>. Got value: abc"),
    "lr absurd": (["fit", "--model.init_args.lr", "1000"], "lr must be in (0, 100]"),
    "hidden zero": (["fit", "--model.init_args.hidden_sizes", "[0]"], "hidden_sizes must be positive integers"),
    "hidden negative": (["fit", "--model.init_args.hidden_sizes", "[-2]"], "hidden_sizes must be positive integers"),
    "hidden text": (["fit", "--model.init_args.hidden_sizes", '["x"]'], "model.hidden_sizes: Expected a <class 'int'>"),
    "unknown key": (["fit", "-c", CONFIG, "--model.init_args.hiden_sizes", "[2]"], "'hiden_sizes' is not accepted"),
    "unknown trainer key": (["fit", "--trainer.max_stepz", "3"], "max_stepz"),
    "missing config": (["fit", "-c", "no/such/config.yaml"], "File does not exist"),
    "max_steps zero": (["fit", "--trainer.max_steps", "0"], "trainer.max_steps must be a positive number"),
    "max_steps negative": (["fit", "--trainer.max_steps", "-5"], "trainer.max_steps must be a positive number"),
    "missing checkpoint": (["test", "--ckpt_path", "nothere.ckpt"], "no such checkpoint file"),
    "nothing to resume": (["fit", "--ckpt_path", "last"], "no logs/xor/version_*/checkpoints/last.ckpt"),
}


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["xor-lightning"])  # pytest's own flags are not ours


def run_main(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def assert_one_line_error(code, err, expected):
    assert code not in (0, None)
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected in last, err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_nonzero_exit_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args, expected = BAD_INPUTS[case]
    code, err = run_main(args, capsys)
    assert_one_line_error(code, err, expected)
    assert list(tmp_path.iterdir()) == []


def test_yaml_typo_is_reported_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "typo.yaml").write_text(
        "model:\n  class_path: xor_lightning.XORClassifier\n  init_args:\n    hiden_sizes: [2]\n"
    )
    code, err = run_main(["fit", "-c", "typo.yaml"], capsys)
    assert_one_line_error(code, err, "hiden_sizes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["typo.yaml"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A real 2-2-1 and a real wide-deep checkpoint, from two short CLI runs."""
    cwd = tmp_path_factory.mktemp("ckpts")
    for config in ("xor_nn", "xor_nn_wide_deep"):
        result = run_cli("fit", "-c", str(REPO / f"configs/{config}.yaml"), "--trainer.max_steps=5", cwd=cwd)
        assert result.returncode == 0, result.stderr
    return {c: cwd / f"logs/{c}/version_0/checkpoints/last.ckpt" for c in ("xor_nn", "xor_nn_wide_deep")}


class Payload:
    """Unpickling this runs `Path(marker).touch()`: what a malicious checkpoint would do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def bad_checkpoints(good: Path, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"weight": torch.zeros(2)}}, foreign)
    return {
        "truncated": (truncated, "not a loadable checkpoint"),
        "not a checkpoint": (text, "not a loadable checkpoint"),
        "foreign": (foreign, "not a checkpoint written by xor_lightning"),
    }


@pytest.mark.parametrize("kind", ["truncated", "not a checkpoint", "foreign"])
@pytest.mark.parametrize("subcommand", ["test", "fit"])
def test_unusable_checkpoint_is_refused_in_one_line(kind, subcommand, checkpoints, tmp_path, monkeypatch, capsys):
    path, expected = bad_checkpoints(checkpoints["xor_nn"], tmp_path)[kind]
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    code, err = run_main([subcommand, "--ckpt_path", str(path)], capsys)
    assert_one_line_error(code, err, expected)
    assert sorted(tmp_path.iterdir()) == before


def test_checkpoint_of_another_architecture_names_the_mismatch(checkpoints, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["test", "-c", str(REPO / "configs/xor_nn_wide_deep.yaml"), "--ckpt_path", str(checkpoints["xor_nn"])]
    code, err = run_main(args, capsys)
    assert_one_line_error(code, err, "holds XORClassifier with hidden_sizes [2]")
    assert "asks for XORClassifier with hidden_sizes [10, 10, 10]" in err
    assert not (tmp_path / "logs").exists()


def test_checkpoint_without_a_config_brings_its_own_architecture(checkpoints, tmp_path):
    result = run_cli("test", "--ckpt_path", str(checkpoints["xor_nn_wide_deep"]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test_acc" in result.stdout


@pytest.mark.parametrize("subcommand", ["test", "fit"])
def test_pickle_payload_in_a_checkpoint_never_runs(subcommand, checkpoints, tmp_path):
    marker = tmp_path / "payload-ran"
    evil = torch.load(checkpoints["xor_nn"], weights_only=True)
    evil["hyper_parameters"]["note"] = Payload(str(marker))
    evil_path = tmp_path / "evil.ckpt"
    torch.save(evil, evil_path, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    result = run_cli(subcommand, "--ckpt_path", str(evil_path), cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: --ckpt_path")
    assert "not a loadable checkpoint" in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "logs").exists()


def alias_bomb(folder: Path) -> Path:
    """Nine levels of nine aliases: 9^6 strings from a 300-byte file ("billion laughs")."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcde", "bcdef", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = folder / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# Each a real process: what stderr shows, the exit code, and that the folder is unchanged.
RESOURCES = {
    "alias bomb": (lambda d: ["fit", "-c", str(alias_bomb(d))], "holds more than 1000 values"),
    "quadratic list": (
        lambda d: ["fit", "--model.init_args.hidden_sizes", "[" + ",".join(["1"] * 2000) + "]"],
        "lists more than 200 values",
    ),
    "too many copies": (
        lambda d: ["fit", "-c", str(REPO / "configs/study_xor_nn.yaml"), "--model.init_args.num_copies=1000000000"],
        "a study may hold at most",
    ),
    "too wide": (
        lambda d: ["fit", "--model.init_args.hidden_sizes=[100000,100000]"],
        "more than this machine can give",
    ),
}


REAL_PROCESS = {"alias bomb", "too many copies", "3 ddp processes", "not utf-8"}  # the rest in-process: cheaper


def refused(args: list[str], case: str, tmp_path: Path, monkeypatch, capsys) -> tuple[int, str]:
    """(exit code, stderr) of the CLI in a real process for the REAL_PROCESS cases, else in this one."""
    if case in REAL_PROCESS:
        result = run_cli(*args, cwd=tmp_path, timeout=60)
        return result.returncode, result.stderr
    monkeypatch.chdir(tmp_path)
    return run_main(args, capsys)


def assert_one_stderr_line(code: int, err: str, expected: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert len(lines[0]) <= 400


@pytest.mark.parametrize("case", list(RESOURCES))
def test_resource_exhaustion_is_refused_in_one_line(case, tmp_path, monkeypatch, capsys):
    make_args, expected = RESOURCES[case]
    args = make_args(tmp_path)
    before = tree(tmp_path)
    assert_one_stderr_line(*refused(args, case, tmp_path, monkeypatch, capsys), expected)
    assert tree(tmp_path) == before


OTHER_FAILURES = {
    "save_dir is a file": (["--trainer.logger.init_args.save_dir=notes.txt"], "notes.txt is a file, not a folder"),
    "gpu on a cpu machine": (["--trainer.accelerator=gpu"], "gpu"),
    "no devices": (["--trainer.devices=0"], "trainer.devices must be at least 1"),
    "val interval 0": (["--trainer.val_check_interval=0"], "trainer.val_check_interval must be a positive"),
    "seed out of range": (["--seed_everything=99999999999"], "seed_everything must be"),
    "clip a manual module": (
        ["-c", str(REPO / "configs/xor_backprop.yaml"), "--trainer.gradient_clip_val=0.5"],
        "trainer.gradient_clip_val: XORBackpropClassifier applies its own updates",
    ),
    "3 ddp processes": (
        ["--trainer.strategy=ddp", "--trainer.devices=3", "--trainer.accelerator=cpu"],
        "3 processes cannot share the 4 XOR samples equally",
    ),
    "not utf-8": (["-c", "latin1.yaml"], "config latin1.yaml: not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(OTHER_FAILURES))
def test_other_failures_are_one_line_exit_2_and_write_nothing(case, tmp_path, monkeypatch, capsys):
    if case == "gpu on a cpu machine" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    (tmp_path / "notes.txt").write_text("not a folder\n")
    (tmp_path / "latin1.yaml").write_bytes(b"trainer:\n  max_steps: 5\n# caf\xe9\n")
    args, expected = OTHER_FAILURES[case]
    before = tree(tmp_path)
    code, err = refused(["fit", *args, "--trainer.max_steps=5"], case, tmp_path, monkeypatch, capsys)
    assert_one_stderr_line(code, err, expected)  # "Seed set to 777" held back, not printed first
    assert tree(tmp_path) == before


def test_a_read_only_save_dir_is_refused_before_writing(tmp_path, monkeypatch, capsys):
    import os

    from xor_lightning.cli import folders as cli

    logs = tmp_path / "logs"
    logs.mkdir()
    logs.chmod(0o500)
    try:
        if os.access(logs, os.W_OK):  # root ignores permission bits: simulate a read-only filesystem

            def read_only(*args, **kwargs):
                raise PermissionError(13, "Read-only file system")

            monkeypatch.setattr(cli.tempfile, "mkstemp", read_only)
        monkeypatch.chdir(tmp_path)
        code, err = run_main(["fit", "--trainer.max_steps=5"], capsys)
        assert (
            code == 2 and err.strip() == "error: trainer.logger save_dir: cannot write in logs (Read-only file system)"
        ) or (code == 2 and "cannot write in logs" in err), err
        assert list(logs.iterdir()) == []
    finally:
        logs.chmod(0o700)


def test_a_full_disk_while_saving_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    """The first fit saves last.ckpt; the resumed fit's save fails (ENOSPC): one line, last.ckpt intact."""
    import errno

    import lightning.fabric.utilities.cloud_io as cloud_io

    monkeypatch.chdir(tmp_path)
    code, _ = run_main_ok(["fit", "--trainer.max_steps=5"], capsys)
    last = tmp_path / "logs/xor/version_0/checkpoints/last.ckpt"
    saved = last.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cloud_io.torch, "save", disk_full)
    code, err = run_main(["fit", "--trainer.max_steps=10", "--ckpt_path=last"], capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error: ")]
    assert code == 1 and lines and "No space left on device" in lines[-1], err
    assert "Traceback" not in err
    assert last.read_bytes() == saved


def run_main_ok(args, capsys) -> tuple[int, str]:
    main(args)
    return 0, capsys.readouterr().err
