"""notebooks/xor_lesson.ipynb runs top to bottom in a real Jupyter kernel and prints the lesson's costs.

The kernel is this venv's python (a kernelspec written for sys.executable, not whatever `python` is on
PATH), with the repo on PYTHONPATH and a temporary folder as its working directory. The whole notebook
trains ~30000 Lightning steps, the exercises' and the interactive cell's ~27000 plain-torch ones.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from PIL import Image

from tests.conftest import REPO
from tests.oracle import notebook_backprop, notebook_nn

NOTEBOOK = REPO / "notebooks" / "xor_lesson.ipynb"


def kernel_manager(spec_dir: Path) -> KernelManager:
    """A manager whose "python3" kernel is this interpreter, importing xor_lightning from this repo."""
    spec = Path(write_kernel_spec(spec_dir / "python3"))
    kernel_json = json.loads((spec / "kernel.json").read_text())
    kernel_json["env"] = {"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    (spec / "kernel.json").write_text(json.dumps(kernel_json))
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    """The executed notebook's cells by id; nbclient raises CellExecutionError on any failing cell."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    workdir = tmp_path_factory.mktemp("notebook_cwd")
    km = kernel_manager(tmp_path_factory.mktemp("kernels"))
    NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(workdir)}}).execute()
    assert not any(workdir.iterdir()), "the notebook wrote files (logs or checkpoints) into its working directory"
    return {cell.id: cell for cell in nb.cells}


def stdout_lines(cell: nbformat.NotebookNode) -> list[str]:
    text = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    return text.splitlines()


def test_the_stored_notebook_has_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_every_code_cell_ran_without_error(executed) -> None:
    code = [c for c in executed.values() if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]


@pytest.mark.parametrize(
    ("cell_id", "oracle_cost"),
    [
        ("backprop-fit", lambda: notebook_backprop(1)[0][0]),
        ("nn-fit", lambda: notebook_nn([2], 1)[0][0]),
        ("wide-deep-fit", lambda: notebook_nn([10, 10, 10], 1)[0][0]),
    ],
)
def test_the_lesson_cells_print_the_notebook_loops_costs(executed, cell_id: str, oracle_cost) -> None:
    lines = stdout_lines(executed[cell_id])
    assert lines[0] == f"0 {oracle_cost().item()!r}"  # exact: the float32 cost as Python prints it
    cost_lines = [line for line in lines if line.split(" ")[0].isdigit()]
    assert [int(line.split()[0]) for line in cost_lines] == list(range(0, 10001, 1000))  # not 101 lines
    assert lines.count("hypothesis:") == 1 and lines.count("predicted:") == 1  # once, after the last step


@pytest.mark.parametrize("cell_id", ["backprop-boundary", "nn-boundary", "wide-deep-gradients", "wide-deep-boundary"])
def test_the_pictures_are_shown_inline_at_projector_size(executed, cell_id: str) -> None:
    [png] = [o["data"]["image/png"] for o in executed[cell_id].outputs if "image/png" in o.get("data", {})]
    assert Image.open(io.BytesIO(base64.b64decode(png))).size[0] >= 800


def test_the_setup_is_one_short_import_cell(executed) -> None:
    source = executed["setup"].source
    assert len(source.splitlines()) <= 8 and "def " not in source and "PIL" not in source and "io" not in source.split()


def cell_ids(executed) -> list[str]:
    return list(executed)


@pytest.mark.parametrize("name", ["lr", "width", "depth", "fail"])
def test_each_exercise_asks_first_and_answers_after_the_run(executed, name: str) -> None:
    ids = cell_ids(executed)
    ask, answer = ids.index(f"exercise-{name}-md"), ids.index(f"exercise-{name}-answer")
    ran = [i for i in range(ask + 1, answer) if executed[ids[i]].cell_type == "code"]
    assert ran and executed[ids[answer]].source.startswith("<details><summary>Answer</summary>")
    assert "Predict, then run" in executed[ids[ask]].source


def test_the_exercise_answers_say_what_the_cells_printed(executed) -> None:
    lr = stdout_lines(executed["exercise-lr"])
    assert lr[0].startswith("lr  0.1: not solved in 3000 steps")
    assert lr[1].startswith("lr  1.0: solved at step 2458") and lr[2].startswith("lr 10.0: not solved")
    assert 0.47 < float(lr[2].split()[-1]) < 0.49  # "its cost stops near 0.478"
    width = stdout_lines(executed["exercise-width"])
    assert width[0].startswith("2-1-1: not solved") and "[0.0" in width[0] and width[0].count("0.66") == 3
    assert width[1].startswith("2-2-1: solved at step 2458") and width[2].startswith("2-4-1: solved at step 842")
    costs = dict(line.split() for line in stdout_lines(executed["wide-deep-fit"]) if line.split()[0].isdigit())
    assert float(costs["4000"]) > 0.6925 and 0.68 < float(costs["5000"]) < 0.685  # "still 0.693 at 4000, 0.682 at 5000"
    assert 0.0012 < float(costs["6000"]) < 0.0014  # "0.0013 at step 6000"


def test_the_interactive_cell_retrains_and_redraws_when_a_slider_moves(executed) -> None:
    views = [o for o in executed["explore"].outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1
    [line] = stdout_lines(executed["explore-set"])
    assert line.startswith("2-4-1 at lr 3: solved at step") and int(line.split("px wide")[0].split()[-1]) >= 800


def test_the_study_cell_shows_one_table_row_per_architecture(executed) -> None:
    tables = [o.data["text/markdown"] for o in executed["study"].outputs if "text/markdown" in o.get("data", {})]
    assert len(tables) == 1
    rows = [line for line in tables[0].splitlines() if line.startswith("| 2-")]
    assert [row.split(" | ")[0:2] for row in rows] == [["| 2-2-1", "64"], ["| 2-10-10-10-1", "64"]]


def test_the_failure_cell_shows_a_minimum_at_infinity_creeping_and_a_saddle_left(executed) -> None:
    lines = [line.split() for line in stdout_lines(executed["why"]) if line.startswith("step")]
    creeping, leaving = lines[:4], lines[4:]
    costs, norms = [float(r[3]) for r in creeping], [float(r[6]) for r in creeping]
    assert costs == sorted(costs, reverse=True) and norms == sorted(norms)  # cost down, weights up
    assert all(abs(c - math.log(2) / 2) < 0.01 for c in costs[1:])  # towards ln(2)/2, never below it
    assert abs(float(leaving[0][3]) - math.log(2)) < 1e-3 and float(leaving[-1][3]) < 0.01  # plateau, then solved


def test_the_cures_cell_shows_tanh_relu_and_momentum_adam_shortening_the_plateau(executed) -> None:
    lines = stdout_lines(executed["cures"])
    ratios = {
        line.split()[0]: float(line.rsplit(": ", 1)[1].rstrip("x)")) for line in lines if "layer 4 / layer 1" in line
    }
    assert ratios["sigmoid"] > 100 and ratios["tanh"] < 10 and ratios["relu"] < 10  # the vanishing gradient, cured
    steps = {
        line.split()[0]: [int(t.rstrip(",")) for t in line.split() if t.rstrip(",").isdigit()]
        for line in lines
        if "steps on the plateau" in line
    }
    sgd, momentum, adam = steps["sigmoid"][1:]  # after "lr 1"
    assert sgd > 4000 and momentum < 1000 and adam < 1000
    assert all(max(steps[a][1:]) < 200 for a in ("tanh", "relu"))
