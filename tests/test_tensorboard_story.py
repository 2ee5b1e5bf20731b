"""What a learner sees in TensorBoard, read through a real server's HTTP API: the HParams table compares
architectures and learning rates across runs, validation sits on the printed steps, no clutter."""

import json
import math
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO, run_cli
from tests.test_inspection import free_port, get_json, makefile_tensorboard_flags

STEP_LINE = re.compile(r"^(\d+) (\S+)$", re.M)
RUNS = {  # two architectures, two learning rates, validation every 100 steps
    "xor_nn": ["-c", str(REPO / "configs/xor_nn.yaml")],
    "perceptron": ["-c", str(REPO / "configs/perceptron.yaml"), "--model.init_args.lr=0.5"],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("tb")
    printed = {}
    for name, args in RUNS.items():
        result = run_cli("fit", *args, "--trainer.max_steps=201", "--data.steps_per_epoch=100", cwd=cwd)
        assert result.returncode == 0, result.stderr
        printed[name] = {int(s): float(c) for s, c in STEP_LINE.findall(result.stdout)}
    port = free_port()
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(cwd / "logs"), "--host", "127.0.0.1"]
    proc = subprocess.Popen([*cmd, "--port", str(port), *makefile_tensorboard_flags()], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(get_json(f"{base}/data/runs")) >= 2:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        yield base, printed
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def post_json(url: str, body: dict):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_hparams_compare_architecture_and_lr_across_runs(server):
    base, _ = server
    experiment = post_json(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
    columns = {h["name"]: h for h in experiment["hparamInfos"]}
    assert {"lr", "architecture", "hidden_layers", "parameters", "hidden_sizes"} <= set(columns)
    # The lesson's hyperparameters first (TensorBoard lists differing ones first), none hidden by a domain.
    assert [h["name"] for h in experiment["hparamInfos"][:3]] == ["architecture", "hidden_sizes", "lr"]
    assert not any("domainDiscrete" in h for h in experiment["hparamInfos"])
    metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert metrics[:3] == ["hp/accuracy", "hp/fraction_solved", "hp/final_train_loss"]
    assert metrics.index("val_loss") < min(metrics.index(m) for m in metrics if m.startswith("grad_norm"))
    # Both runs' rows, with their own architecture and lr.
    groups = post_json(
        f"{base}/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "startIndex": 0,
            "sliceSize": 100,
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS"],
            "colParams": [{"hparam": "architecture"}, {"hparam": "lr"}, {"metric": {"tag": "hp/accuracy"}}],
        },
    )
    rows = {(g["hparams"]["architecture"], g["hparams"]["lr"]) for g in groups["sessionGroups"]}
    assert rows == {("2-2-1", 1.0), ("2-1", 0.5)}


def test_custom_scalars_show_every_layers_gradient_norm_and_the_losses_on_one_page(server):
    base, _ = server
    layout = get_json(f"{base}/data/plugin/custom_scalars/layout")
    charts = {c["title"]: c["multiline"]["tag"] for cat in layout["category"] for c in cat["chart"]}
    assert charts["cost: train_loss and val_loss"] == ["^train_loss$", "^val_loss$"]
    [gradients] = [tags for title, tags in charts.items() if "gradient" in title]
    run = next(r for r in get_json(f"{base}/data/runs") if r.startswith("xor_nn/"))
    query = urllib.parse.urlencode({"run": run, "tag": gradients[0]})
    found = get_json(f"{base}/data/plugin/custom_scalars/scalars?{query}")
    series = found["tag_to_events"]
    assert sorted(series) == ["grad_norm_log10/layer1.weight", "grad_norm_log10/layer2.weight"]
    # log10 of the norm grad_norm/* holds, at every logged step: a log axis the layout itself cannot set.
    plain = get_json(
        f"{base}/data/plugin/scalars/scalars?" + urllib.parse.urlencode({"run": run, "tag": "grad_norm/layer1.weight"})
    )
    logged = {step: value for _, step, value in series["grad_norm_log10/layer1.weight"]}
    assert logged and all(logged[step] == pytest.approx(math.log10(v), abs=1e-5) for _, step, v in plain)


def test_validation_is_logged_at_the_printed_steps_and_equals_their_cost(server):
    base, printed = server
    runs = get_json(f"{base}/data/runs")
    run = next(r for r in runs if r.startswith("xor_nn/"))
    query = urllib.parse.urlencode({"run": run, "tag": "val_loss"})
    val = get_json(f"{base}/data/plugin/scalars/scalars?{query}")
    steps = [step for _, step, _ in val]
    assert steps == [100, 200] and set(steps) <= set(printed["xor_nn"])
    # The cost printed at step s is computed from the weights after s updates: what validation sees.
    assert all(value == pytest.approx(printed["xor_nn"][step], abs=1e-7) for _, step, value in val)


def test_a_run_with_another_architecture_says_so_in_its_folder(server):
    runs = get_json(f"{server[0]}/data/runs")
    assert "perceptron/2-1_lr0.5/version_0" in runs  # its lr was set on the command line
    assert "xor_nn/version_0" in runs  # the config as shipped: its name says what ran


def test_no_epoch_scalar_and_graph_nodes_named_like_the_scalars(server):
    base, _ = server
    tags = get_json(f"{base}/data/plugin/scalars/tags")
    assert all("epoch" not in run_tags for run_tags in tags.values()), tags
    run = next(r for r in get_json(f"{base}/data/runs") if r.startswith("xor_nn/"))
    with urllib.request.urlopen(f"{base}/data/plugin/graphs/graph?run={urllib.parse.quote(run)}") as response:
        graph = response.read().decode()
    assert "layer1" in graph and "layer2" in graph and "Linear[0]" not in graph
