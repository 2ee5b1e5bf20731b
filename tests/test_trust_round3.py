"""Trust, round 3 (issue 23): the input beyond the -c file and the weights, refused in one line.

Each case: exit code, the single stderr line, and the working folder unchanged (or the previous
checkpoint intact). Most run in this process (cheap); the signal, process and concurrency cases run
the real CLI in subprocesses.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, assert_refused_in_one_line, run_cli, tree
from xor_lightning.cli.main import main

CONFIG = str(REPO / "configs/xor_nn.yaml")


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["xor-lightning"])  # pytest's own flags are not ours


def run_main(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def assert_one_line(code: int, err: str, expected: str, exit_code: int = 2) -> None:
    lines = err.strip().splitlines()
    assert code == exit_code and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert len(lines[0]) <= 400


def ltree(folder: Path) -> dict[str, tuple[int, int]]:
    """conftest's `tree`, with links stat'ed themselves: a dangling one is part of the folder too."""
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


def alias_bomb(path: Path) -> str:
    """Nine levels of nine aliases: 9^6 strings from a 300-byte file ("billion laughs")."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcde", "bcdef", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    path.write_text("\n".join(lines) + "\n")
    return path.name


# --- 3. every file the CLI reads passes -c's bounds; a config that cannot be read is bad input -----------

FILE_ARGUMENTS = {
    "--trainer bomb": (["--trainer", "bomb.yaml"], "--trainer bomb.yaml: holds more than 1000 values"),
    "--data bomb": (["--data", "bomb.yaml"], "--data bomb.yaml: holds more than 1000 values"),
    "--model bomb": (["--model=bomb.yaml"], "--model bomb.yaml: holds more than 1000 values"),
    "--trainer.logger bomb": (["--trainer.logger", "bomb.yaml"], "--trainer.logger bomb.yaml: holds more"),
    "--trainer huge": (["--trainer", "huge.yaml"], "--trainer huge.yaml: larger than 64 KiB"),
    "--data not utf-8": (["--data", "latin1.yaml"], "--data latin1.yaml: not UTF-8 text"),
    "nested in a config": (["-c", "outer.yaml"], "bomb.yaml: holds more than 1000 values"),
    "python tag": (["-c", "tag.yaml"], "config tag.yaml: not plain YAML"),
    "pagemap": (["-c", "/proc/self/pagemap"], "config /proc/self/pagemap: larger than 64 KiB"),
}


@pytest.mark.parametrize("case", list(FILE_ARGUMENTS))
def test_every_file_the_cli_reads_is_bounded(case, tmp_path, monkeypatch, capsys):
    if case == "pagemap" and not Path("/proc/self/pagemap").exists():
        pytest.skip("no /proc/self/pagemap here")
    alias_bomb(tmp_path / "bomb.yaml")
    (tmp_path / "huge.yaml").write_text("max_steps: 5\n" + "#" * (1 << 20) + "\n")
    (tmp_path / "latin1.yaml").write_bytes(b"max_steps: 5\n# caf\xe9\n")
    (tmp_path / "outer.yaml").write_text("trainer: bomb.yaml\n")
    (tmp_path / "tag.yaml").write_text("trainer:\n  max_steps: !!python/name:os.system\n")
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    args, expected = FILE_ARGUMENTS[case]
    assert_one_line(*run_main(["fit", *args, "--trainer.max_steps=5"], capsys), expected)
    assert tree(tmp_path) == before


def test_an_unreadable_config_is_bad_input_naming_the_file(tmp_path, monkeypatch, capsys):
    from xor_lightning.cli import inputs

    config = tmp_path / "secret.yaml"
    config.write_text("trainer:\n  max_steps: 5\n")
    config.chmod(0)
    if os.access(config, os.R_OK):  # root reads it anyway: simulate the refusal

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(inputs, "open", denied, raising=False)
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    assert_one_line(*run_main(["fit", "-c", "secret.yaml"], capsys), "config secret.yaml: cannot be read (Permission")
    assert tree(tmp_path) == before


def test_a_bomb_given_to_trainer_through_the_real_cli(tmp_path):
    alias_bomb(tmp_path / "bomb.yaml")
    before = tree(tmp_path)
    result = run_cli("fit", "--trainer", "bomb.yaml", cwd=tmp_path, timeout=60)
    assert_refused_in_one_line(result, "--trainer bomb.yaml: holds more than 1000 values")
    assert tree(tmp_path) == before


# --- 1. start-up checks cover every folder the run writes and every setting that fails later ----------

LONG_NAME = "n" * 300
START_UP = {
    "checkpoint dirpath under /proc": (["--checkpoint.dirpath=/proc/xor-ckpts"], "checkpoint.dirpath: cannot write"),
    "checkpoint dirpath a file": (["--checkpoint.dirpath=notes.txt"], "checkpoint.dirpath: notes.txt is a file"),
    "no logger, root unwritable": (
        ["--trainer.logger=false", "--trainer.default_root_dir=/proc/xor-root"],
        "trainer.default_root_dir: cannot write in /proc",
    ),
    "logs a dangling symlink": ([], "logs is a symbolic link to missing-folder, which does not exist"),
    "logger name too long": (
        [f"--trainer.logger.init_args.name={LONG_NAME}"],
        "is longer than the filesystem allows",
    ),
    "val interval past the epoch": (
        ["--trainer.val_check_interval=2000"],
        "trainer.val_check_interval 2000 is more than the 1000 steps of an epoch",
    ),
    "monitor never logged": (["--checkpoint.monitor=val_los"], "checkpoint.monitor 'val_los': no such metric"),
    "monitor without validation": (
        ["--checkpoint.monitor=val_loss", "--trainer.limit_val_batches=0"],
        "(validation is off: limit_val_batches 0)",
    ),
    "precision 64-true": (["--trainer.precision=64-true"], "trainer.precision 64-true: the XOR data"),
    "precision bf16-true": (["--trainer.precision=bf16-true"], "trainer.precision bf16-true: the XOR data"),
    "two nodes, no launcher": (
        ["--trainer.strategy=ddp", "--trainer.num_nodes=2", "--trainer.accelerator=cpu"],
        "trainer.num_nodes 2: no launcher says which node this is",
    ),
}


@pytest.mark.parametrize("case", list(START_UP))
def test_start_up_checks_refuse_before_anything_is_written(case, tmp_path, monkeypatch, capsys):
    for name in ("MASTER_ADDR", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "notes.txt").write_text("not a folder\n")
    if case == "logs a dangling symlink":
        (tmp_path / "logs").symlink_to("missing-folder")
    monkeypatch.chdir(tmp_path)
    before = ltree(tmp_path)
    args, expected = START_UP[case]
    assert_one_line(*run_main(["fit", "-c", CONFIG, *args, "--trainer.max_steps=5"], capsys), expected)
    assert ltree(tmp_path) == before


def copy_run(trained: Path, folder: Path) -> Path:
    """The xor_nn run of the `trained` fixture, copied into `folder`: its version folder."""
    import shutil

    shutil.copytree(trained.parents[1], folder / "logs/xor_nn/version_0")
    return folder / "logs/xor_nn/version_0"


def test_a_resume_into_a_read_only_version_folder_is_refused(trained, tmp_path, monkeypatch, capsys):
    from xor_lightning.cli import folders as cli

    version = copy_run(trained["xor_nn"], tmp_path)
    version.chmod(0o500)
    try:
        if os.access(version, os.W_OK):  # root writes anyway: simulate a read-only folder
            mkstemp = cli.tempfile.mkstemp

            def read_only(*args, dir=None, **kwargs):
                if Path(dir).resolve() == version.resolve():
                    raise PermissionError(13, "Permission denied")
                return mkstemp(*args, dir=dir, **kwargs)

            monkeypatch.setattr(cli.tempfile, "mkstemp", read_only)
        monkeypatch.chdir(tmp_path)
        before = tree(tmp_path)
        code, err = run_main(["fit", "-c", CONFIG, "--trainer.max_steps=30", "--ckpt_path=last"], capsys)
        assert_one_line(code, err, "trainer.logger version: cannot write in logs/xor_nn/version_0 (Permission denied)")
        assert tree(tmp_path) == before
    finally:
        version.chmod(0o700)


def test_a_precision_refused_through_the_real_cli(tmp_path):
    result = run_cli("fit", "-c", CONFIG, "--trainer.precision=64-true", cwd=tmp_path, timeout=60)
    assert_refused_in_one_line(result, "trainer.precision 64-true")
    assert tree(tmp_path) == {}


# --- 2. what Lightning restores from a checkpoint is checked by type and value before the Trainer starts --


def edited(good: Path, folder: Path, name: str, edit) -> Path:
    import torch

    checkpoint = torch.load(good, weights_only=True)
    edit(checkpoint)
    path = folder / f"{name}.ckpt"
    torch.save(checkpoint, path)
    return path


def set_state(prefix: str, key: str, value):
    def edit(checkpoint: dict) -> None:
        for name, state in checkpoint["callbacks"].items():
            if name.startswith(prefix):
                state[key] = value

    return edit


def set_loop(value):
    def edit(checkpoint: dict) -> None:
        checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["completed"] = value

    return edit


CONTENTS = {
    "loss curve of strings": (set_state("LossCurve", "steps", ["a"]), "LossCurve state holds steps or costs that"),
    "loss costs of strings": (set_state("LossCurve", "costs", ["b"]), "LossCurve state holds steps or costs that"),
    "boundary of strings": (
        set_state("DecisionBoundary", "snapshots", [["0", "x", "grid"]]),
        "DecisionBoundary snapshots are not (step, cost, grid)",
    ),
    "checkpoint score text": (set_state("ModelCheckpoint", "best_model_score", "high"), "best_model_score is not a"),
    "checkpoint best_k a list": (set_state("ModelCheckpoint", "best_k_models", ["x"]), "best_k_models is not a"),
    "checkpoint dirpath a number": (set_state("ModelCheckpoint", "dirpath", 3), "ModelCheckpoint dirpath is not text"),
    "garbage lightning version": (
        lambda c: c.update({"pytorch-lightning_version": "garbage"}),
        "names the Lightning version 'garbage', which is not a version",
    ),
    "very old lightning version": (
        lambda c: c.update({"pytorch-lightning_version": "0.5.0"}),
        "was written by Lightning 0.5.0",
    ),
    "loop counter text": (set_loop("many"), "counter loops.fit_loop.epoch_loop.batch_progress.total.completed"),
    "loop counter negative": (set_loop(-3), "is not a non-negative integer"),
    "epoch text": (lambda c: c.update(epoch="one"), "its epoch is missing"),
}
FIT_ONLY = {"loop counter text", "loop counter negative", "epoch text"}  # test never restores the loops


@pytest.mark.parametrize("subcommand", ["fit", "test"])
def test_what_lightning_restores_is_checked_before_the_trainer(subcommand, trained, tmp_path, monkeypatch, capsys):
    folder, work = tmp_path / "ckpts", tmp_path / "work"
    folder.mkdir(), work.mkdir()
    monkeypatch.chdir(work)
    for name, (edit, expected) in CONTENTS.items():
        if name in FIT_ONLY and subcommand != "fit":
            continue
        path = edited(trained["xor_nn"], folder, name.replace(" ", "_"), edit)
        code, err = run_main([subcommand, "-c", CONFIG, "--ckpt_path", str(path), "--trainer.max_steps=30"], capsys)
        assert_one_line(code, err, expected)
        assert tree(work) == {}, name


def test_a_pickled_checkpoint_is_refused_in_exactly_one_line(trained, tmp_path):
    import pickle

    import torch

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "payload-ran",))

    evil = torch.load(trained["xor_nn"], weights_only=True)
    evil["hyper_parameters"]["note"] = Payload()
    torch.save(evil, tmp_path / "evil.ckpt", pickle_protocol=pickle.DEFAULT_PROTOCOL)
    before = tree(tmp_path)
    result = run_cli("fit", "--ckpt_path", "evil.ckpt", cwd=tmp_path, timeout=60)
    assert_refused_in_one_line(result, "not a loadable checkpoint (it holds pickled Python objects")
    assert tree(tmp_path) == before


# --- 4. signals and processes ------------------------------------------------------------------------


def cli_process(args: list[str], cwd: Path):
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "xor_lightning", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("delay", [0.3, 1.5])
def test_ctrl_c_during_start_up_is_one_line_and_writes_nothing(delay, tmp_path):
    import signal
    import time

    proc = cli_process(["fit", "-c", CONFIG, "--trainer.max_steps=100000"], tmp_path)
    try:
        time.sleep(delay)  # inside the imports, or the checks: the run has not started
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip() == "interrupted", err
    assert tree(tmp_path) == {}


def test_sigint_to_rank_0_of_a_sharded_study_stops_every_rank_after_one_step(tmp_path):
    import signal
    import time

    import torch

    args = [
        "fit",
        "-c",
        str(REPO / "configs/study_xor_nn.yaml"),
        "--model.init_args.num_copies=8",
        "--trainer.max_steps=1000000",
        "--trainer.devices=2",
        "--trainer.accelerator=cpu",
        "--trainer.strategy=copy_sharded",
        "--report.every_n_steps=100",
    ]
    proc = cli_process(args, tmp_path)
    sent = None
    try:
        for line in proc.stdout:
            if line.startswith("300 "):
                proc.send_signal(signal.SIGINT)  # rank 0 only, as `kill -INT` does
                sent = time.monotonic()
                break
        _, err = proc.communicate(timeout=60)
        ended = time.monotonic() - (sent or 0)
    finally:
        proc.kill()
    assert sent is not None, err
    assert proc.returncode == 1 and "interrupted at step=" in err and "Traceback" not in err, err
    assert ended < 30, err  # not a hang: the other rank stopped at the same step
    last = torch.load(tmp_path / "logs/study_xor_nn/version_0/checkpoints/last.ckpt", weights_only=True)
    assert last["global_step"] > 300
    assert last["state_dict"]["stacks.0.w1"].shape[-1] == 8  # both ranks' copies, gathered


def test_a_single_network_under_copy_sharded_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "-c", CONFIG, "--trainer.strategy=copy_sharded", "--trainer.devices=2", "--trainer.accelerator=cpu"]
    assert_one_line(*run_main(args, capsys), "XORClassifier is one network, which 2 processes train together only")
    assert tree(tmp_path) == {}


# --- 5. disk, folders, concurrency ---------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MiB tmpfs at tmp_path/disk, where this machine lets the tests mount one (root)."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the simulated full-disk tests still run")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill `disk` until `leave` bytes (or less) are free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(disk / "filler", "wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(0, free - leave))


def test_a_resume_on_a_really_full_disk_is_one_line_and_changes_nothing(small_disk):
    result = run_cli("fit", "-c", CONFIG, "--trainer.max_steps=20", cwd=small_disk)
    assert result.returncode == 0, result.stderr
    fill(small_disk, 0)
    before = tree(small_disk)
    result = run_cli("fit", "-c", CONFIG, "--trainer.max_steps=40", "--ckpt_path=last", cwd=small_disk)
    assert_refused_in_one_line(result, "logs/xor_nn: No space left on device", code=1)
    assert tree(small_disk) == before


def test_a_disk_filling_up_during_a_resume_keeps_last_ckpt_and_leaves_no_empty_event_file(
    small_disk, monkeypatch, capsys
):
    from xor_lightning.cli import folders as cli

    monkeypatch.chdir(small_disk)
    main(["fit", "-c", CONFIG, "--trainer.max_steps=20"])
    last = small_disk / "logs/xor_nn/version_0/checkpoints/last.ckpt"
    saved = last.read_bytes()
    fill(small_disk, 20 * 1024)  # room for the start, not for the checkpoint at step 1000
    monkeypatch.setattr(cli, "check_space", lambda *args: None)  # as if the disk filled after the checks
    capsys.readouterr()
    code, err = run_main(["fit", "-c", CONFIG, "--trainer.max_steps=2000", "--ckpt_path=last"], capsys)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(errors) == 1 and "No space left on device" in errors[0], err
    assert "Traceback" not in err and "Exception in thread" not in err
    assert last.read_bytes() == saved
    folder = last.parents[1]
    assert all(p.stat().st_size > 0 for p in folder.glob("events.out.tfevents.*"))
    assert not [p for p in folder.rglob(".*") if p.is_file()]  # no partial checkpoint left


def test_two_fits_with_the_same_explicit_version_one_is_refused(tmp_path):
    args = ["fit", "-c", CONFIG, "--trainer.max_steps=5", "--trainer.logger.init_args.version=7"]
    procs = [cli_process(args, tmp_path) for _ in range(2)]
    results = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        results.append((proc.returncode, err))
    assert sorted(code for code, _ in results) == [0, 2], results
    err = next(err for code, err in results if code == 2)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "logs/xor_nn/version_7 holds a run already" in lines[0], err
    assert len(list((tmp_path / "logs/xor_nn/version_7").glob("events.out.tfevents.*"))) == 1


def test_a_resume_from_another_folder_leaves_one_last_and_last_is_the_newest_step(tmp_path, monkeypatch, capsys):
    import torch

    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir(), other.mkdir()
    monkeypatch.chdir(first)
    main(["fit", "-c", CONFIG, "--trainer.max_steps=20"])
    checkpoints = first / "logs/xor_nn/version_0/checkpoints"
    monkeypatch.chdir(other)
    main(["fit", "-c", CONFIG, "--trainer.max_steps=40", "--ckpt_path", str(checkpoints / "last.ckpt")])
    assert sorted(p.name for p in checkpoints.glob("last*.ckpt")) == ["last.ckpt"]
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 40
    assert not (other / "logs").exists()


def test_last_means_the_newest_step_also_beside_an_older_last_v1(trained, tmp_path):
    import shutil

    import torch

    from xor_lightning.cli.folders import newest_last

    checkpoints = copy_run(trained["xor_nn"], tmp_path) / "checkpoints"
    newer = torch.load(checkpoints / "last.ckpt", weights_only=True)
    newer["global_step"] += 100
    torch.save(newer, checkpoints / "last-v1.ckpt")
    shutil.copy(checkpoints / "last.ckpt", checkpoints / "last.ckpt.tmp")
    os.replace(checkpoints / "last.ckpt.tmp", checkpoints / "last.ckpt")  # the older step, written last
    assert newest_last(tmp_path / "logs/xor_nn") == str(checkpoints / "last-v1.ckpt")


DUPLICATES = {
    "grid architecture twice": (
        ["-c", str(REPO / "configs/study_grid.yaml"), "--model.init_args.architectures=[[2],[3],[2]]"],
        "architectures lists [2] more than once",
    ),
    "grid lr twice": (
        ["-c", str(REPO / "configs/study_grid.yaml"), "--model.init_args.lr=[0.1,1.0,1.0]"],
        "lr lists 1.0 more than once",
    ),
    "ensemble lr twice": (
        ["-c", str(REPO / "configs/study_xor_nn.yaml"), "--model.init_args.lr=[3.0,3.0]"],
        "lr lists 3.0 more than once",
    ),
}


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_a_study_listing_a_value_twice_is_refused(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args, expected = DUPLICATES[case]
    assert_one_line(
        *run_main(["fit", *args, "--model.init_args.num_copies=8", "--trainer.max_steps=5"], capsys), expected
    )
    assert tree(tmp_path) == {}


def test_study_logs_on_a_damaged_study_csv_is_one_line(tmp_path):
    import subprocess

    run = tmp_path / "logs/study_xor_nn/version_0"
    run.mkdir(parents=True)
    (run / "hparams.yaml").write_text("hidden_sizes: [2]\nlr: 1.0\n")
    (run / "config.yaml").write_text("trainer:\n  max_steps: 100\n")
    (run / "study.csv").write_text("copy,seed,lr,final_cost,accuracy,solved_step\n0,777,1,not-a-number,1.0,5\n")
    before = tree(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "xor_lightning.studies.ensemble_report", "logs"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: logs/study_xor_nn/version_0: its study.csv") and "not-a-number" in lines[0]
    assert tree(tmp_path) == before
