"""A checkpoint is data: it never makes the program import code, never silently replaces what the user
asked for, and a damaged one is refused in one line before anything is written (issue: trust)."""

from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, assert_refused_in_one_line, run_cli, tree

CONFIGS = {name: str(REPO / f"configs/{name}.yaml") for name in ("xor_nn", "xor_backprop", "xor_nn_wide_deep")}


def edited(good: Path, folder: Path, name: str, edit) -> Path:
    checkpoint = torch.load(good, weights_only=True)
    edit(checkpoint)
    path = folder / f"{name}.ckpt"
    torch.save(checkpoint, path)
    return path


PLANTED = """\
from pathlib import Path
Path(__file__).with_name("planted-module-ran").touch()
from xor_lightning import XORClassifier as Model
"""


@pytest.mark.parametrize("subcommand", ["test", "fit"])
def test_a_checkpoint_naming_a_foreign_class_never_imports_it(subcommand, trained, tmp_path):
    (tmp_path / "helpers.py").write_text(PLANTED)  # `python -m` puts the working folder on sys.path
    path = edited(
        trained["xor_nn"], tmp_path, "model", lambda c: c["hyper_parameters"].update(_class_path="helpers.Model")
    )
    before = tree(tmp_path)
    result = run_cli(subcommand, "--ckpt_path", path.name, cwd=tmp_path)
    assert_refused_in_one_line(result, "'helpers.Model', which is not one of xor_lightning's modules")
    assert not (tmp_path / "planted-module-ran").exists()
    assert tree(tmp_path) == before


def test_a_foreign_instantiator_is_refused(trained, tmp_path):
    path = edited(trained["xor_nn"], tmp_path, "m", lambda c: c["hyper_parameters"].update(_instantiator="os.system"))
    result = run_cli("test", "--ckpt_path", str(path), cwd=tmp_path)
    assert_refused_in_one_line(result, "instantiator 'os.system'")


@pytest.mark.parametrize(
    ("config", "other", "expected"),
    [
        ("xor_nn", "xor_nn_wide_deep", "holds XORClassifier with hidden_sizes [10, 10, 10], but the config asks"),
        ("xor_nn", "xor_backprop", "holds a XORBackpropClassifier, but the config asks for XORClassifier"),
        ("xor_backprop", "study_xor_nn", "holds a XOREnsemble, but the config asks for XORBackpropClassifier"),
    ],
)
def test_resuming_another_model_than_the_config_names_is_refused(config, other, expected, trained, tmp_path):
    result = run_cli("fit", "-c", CONFIGS[config], "--ckpt_path", str(trained[other]), cwd=tmp_path)
    assert_refused_in_one_line(result, expected)
    assert tree(tmp_path) == {}


def test_a_flag_equal_to_the_default_still_has_to_match(trained, tmp_path):
    # [2] is XORClassifier's default: naming it explicitly is still a request the checkpoint must meet.
    args = ["--model.init_args.hidden_sizes=[2]", "--ckpt_path", str(trained["xor_nn_wide_deep"])]
    assert_refused_in_one_line(run_cli("test", *args, cwd=tmp_path), "hidden_sizes [10, 10, 10]")


@pytest.mark.parametrize(
    ("config", "flag", "expected"),
    [
        ("xor_nn", "--model.init_args.lr=0.5", "with lr 1.0, but the config asks for XORClassifier with lr 0.5"),
        ("xor_backprop", "--model.init_args.gradient_mode=mean", "gradient_mode notebook, but the config asks"),
    ],
)
def test_resuming_with_other_training_hyperparameters_is_refused_by_name(config, flag, expected, trained, tmp_path):
    result = run_cli("fit", "-c", CONFIGS[config], flag, "--ckpt_path", str(trained[config]), cwd=tmp_path)
    assert_refused_in_one_line(result, expected)
    assert "a resumed run keeps its hyperparameters" in result.stderr


def test_evaluating_ignores_training_only_hyperparameters(trained, tmp_path):
    result = run_cli(
        "test", "-c", CONFIGS["xor_nn"], "--model.init_args.lr=0.5", "--ckpt_path", str(trained["xor_nn"]), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "test_acc" in result.stdout


def test_with_no_model_given_the_checkpoints_model_is_used_and_named(trained, tmp_path):
    result = run_cli("test", "--ckpt_path", str(trained["xor_backprop"]), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model from the checkpoint: XORBackpropClassifier(hidden_sizes=[2], lr=1.0, gradient_mode='notebook')" in (
        result.stderr
    )


@pytest.mark.parametrize("subcommand", ["test", "validate", "predict"])
def test_evaluating_without_a_checkpoint_says_so_and_writes_nothing(subcommand, tmp_path):
    result = run_cli(subcommand, "-c", CONFIGS["xor_nn"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith(f"note: no --ckpt_path, so {subcommand} sees an untrained network")
    assert tree(tmp_path) == {}


def set_checkpoint_state(key: str, value: str):
    """ModelCheckpoint deletes the files its state names: a resume must never trust such a path."""

    def edit(checkpoint: dict) -> None:
        for name, state in checkpoint["callbacks"].items():
            if name.startswith("ModelCheckpoint"):
                state[key] = value

    return edit


def damaged(good: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    def set_weight(value):
        return lambda c: c["state_dict"].__setitem__("model.layer1.weight", value)

    cases = {
        "extra weight": (lambda c: c["state_dict"].update(extra=torch.zeros(2)), "unexpected ['extra']"),
        "missing weight": (lambda c: c["state_dict"].pop("model.layer1.bias"), "missing ['model.layer1.bias']"),
        "wrong shape": (set_weight(torch.zeros(3, 2)), "model.layer1.weight has shape (3, 2)"),
        "hparams disagree": (lambda c: c["hyper_parameters"].update(hidden_sizes=[3]), "make it (3, 2)"),
        "unknown hparam": (lambda c: c["hyper_parameters"].update(depth=3), "['depth'] are not arguments"),
        "object hparam": (lambda c: c["hyper_parameters"].update(lr={"a": 1}), "lr is not a plain value"),
        "nan weight": (set_weight(torch.full((2, 2), float("nan"))), "holds NaN or inf"),
        "no optimizer": (lambda c: c.pop("optimizer_states"), "no optimizer state to resume from"),
        "optimizer lr": (lambda c: c["optimizer_states"][0]["param_groups"][0].update(lr=1e6), "learning rate differs"),
        "path outside": (set_checkpoint_state("best_model_path", "../../../victim"), "outside its own folder"),
        "huge ensemble": (
            lambda c: c["hyper_parameters"].update(_class_path="xor_lightning.XOREnsemble", num_copies=10**9),
            "1000000000 copies in all: a study may hold at most",
        ),
    }
    return {name: (edited(good, folder, name.replace(" ", "_"), edit), msg) for name, (edit, msg) in cases.items()}


def run_main(args: list[str], capsys) -> tuple[int, str]:
    """The CLI in this process: much cheaper than a subprocess for the many damaged files."""
    from xor_lightning.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("subcommand", ["fit", "test"])
def test_damaged_checkpoints_are_refused_in_one_line_before_anything_is_written(
    subcommand, trained, tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    cases = damaged(trained["xor_nn"], folder)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name, (path, expected) in cases.items():
        if name in ("no optimizer", "optimizer lr", "path outside") and subcommand != "fit":
            continue  # test needs weights only
        code, err = run_main([subcommand, "-c", CONFIGS["xor_nn"], "--ckpt_path", str(path)], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and expected in lines[0], (name, err)
        assert tree(work) == {}, name


def test_a_damaged_checkpoint_through_the_real_cli(trained, tmp_path):
    path = damaged(trained["xor_nn"], tmp_path)["nan weight"][0]
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli("fit", "-c", CONFIGS["xor_nn"], "--ckpt_path", str(path), cwd=work)
    assert_refused_in_one_line(result, "model.layer1.weight holds NaN or inf: the checkpoint is damaged")
    assert tree(work) == {}


def test_a_checkpoint_without_optimizer_state_still_tests(trained, tmp_path):
    path = edited(trained["xor_nn"], tmp_path, "weights", lambda c: c.pop("optimizer_states"))
    result = run_cli("test", "--ckpt_path", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_load_from_checkpoint_names_the_class_to_use(trained):
    from xor_lightning import XORBackpropClassifier, XORClassifier, XORModule
    from xor_lightning.arguments import ConfigError

    with pytest.raises(ConfigError, match=r"holds a XORBackpropClassifier.*XORBackpropClassifier.load_from_checkpoint"):
        XORClassifier.load_from_checkpoint(trained["xor_backprop"])
    model = XORModule.load_from_checkpoint(trained["xor_backprop"])
    assert type(model) is XORBackpropClassifier and model.hparams.hidden_sizes == [2]
    saved = torch.load(trained["xor_backprop"], weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_every_spelling_of_the_config_flag_names_a_model(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for flag in (f"-c={CONFIGS['xor_nn']}", f"-c{CONFIGS['xor_nn']}", f"--config={CONFIGS['xor_nn']}"):
        code, err = run_main(["test", flag, "--ckpt_path", str(trained["xor_nn_wide_deep"])], capsys)
        assert code == 2 and "hidden_sizes [10, 10, 10], but the config asks" in err, (flag, err)


def test_a_checkpoint_from_a_plain_trainer_loads_with_its_class(tiny_trainer, tmp_path):
    import lightning as L

    from xor_lightning import XORClassifier, XORDataModule
    from xor_lightning.arguments import ConfigError

    L.seed_everything(777, verbose=False)
    model = XORClassifier(hidden_sizes=[3])
    trainer, _ = tiny_trainer(20)
    trainer.fit(model, XORDataModule())
    path = tmp_path / "plain.ckpt"
    trainer.save_checkpoint(path)
    loaded = XORClassifier.load_from_checkpoint(path)
    assert loaded.hparams.hidden_sizes == [3]
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), model.parameters(), strict=True))
    from xor_lightning import XORModule

    with pytest.raises(ConfigError, match="names no module"):
        XORModule.load_from_checkpoint(path)
