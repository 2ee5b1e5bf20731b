"""The package's layout holds: the lesson imports neither the studies nor the CLI, nothing imports in a
circle, importing the package changes nothing, the lesson stays short, and no code comment holds a timing."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "xor_lightning"
LAYERS = {"lesson": 0, "studies": 1, "cli": 2}  # a module may import only from its own layer or below
# The lesson in the README's reading order; the files a learner reads to follow the notebook.
LESSON = ["data", "network", "backprop", "xor_module", "autograd_module", "backprop_module", "report", "guards"]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(name: str) -> int:
    parts = name.split(".")  # xor_lightning.data: the lesson; xor_lightning.studies.*, xor_lightning.cli.*
    if name == "xor_lightning.__main__":  # python -m xor_lightning: the CLI's entry point
        return LAYERS["cli"]
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every package module `name` imports, at the top or inside a function (TYPE_CHECKING blocks aside)."""
    tree = ast.parse(path.read_text())
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree)), "absolute imports only"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items() if name != "xor_lightning"}


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [
        f"{name} ({layer(name)}) imports {target} ({layer(target)})"
        for name, targets in graph().items()
        for target in targets
        if layer(target) > layer(name)
    ]
    assert not upward, upward
    assert layer("xor_lightning.data") == 0 and layer("xor_lightning.studies.copies") == 1
    assert layer("xor_lightning.cli.main") == 2 and layer("xor_lightning.cli") == 2


def test_there_is_no_import_circle():
    edges = graph()
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not circles, circles


def test_the_walk_sees_upward_and_circular_imports(tmp_path):
    # The checks above can fail: a lesson module importing the CLI is an upward edge here.
    fake = tmp_path / "xor_lightning"
    (fake / "cli").mkdir(parents=True)
    (fake / "data.py").write_text("def f():\n    from xor_lightning.cli import main\n")
    (fake / "cli" / "main.py").write_text("import xor_lightning.data\n")
    known = {"xor_lightning.data": fake / "data.py", "xor_lightning.cli.main": fake / "cli" / "main.py"}
    assert imports("xor_lightning.data", fake / "data.py", known) == {"xor_lightning.cli.main"}
    assert layer("xor_lightning.cli.main") > layer("xor_lightning.data")


def test_importing_the_package_imports_nothing_heavy_and_changes_no_global_state():
    code = (
        "import logging, signal, sys, warnings\n"
        "filters, handler = list(warnings.filters), signal.getsignal(signal.SIGINT)\n"
        "import xor_lightning\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning', 'jsonargparse'))\n"
        "assert not heavy, heavy[:5]\n"
        "from xor_lightning import XORClassifier, XORDataModule  # the lesson itself, imported on use\n"
        "ours = ('LeafSpec', 'Checkpoint directory', 'IterableDataset')  # what xor_lightning.quiet silences\n"
        "added = [f[1].pattern for f in warnings.filters if f not in filters and f[1] is not None]\n"
        "assert not [p for p in added if any(o in p for o in ours)], added\n"
        "assert signal.getsignal(signal.SIGINT) is handler, 'Ctrl-C handler changed'\n"
        "assert not logging.getLogger('lightning.pytorch.utilities.rank_zero').filters\n"
        "assert not any(m.startswith(('xor_lightning.cli', 'xor_lightning.studies')) for m in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_lesson_files_hold_together_in_under_a_thousand_lines():
    lines = {name: len((PACKAGE / f"{name}.py").read_text().splitlines()) for name in LESSON}
    assert sum(lines.values()) < 1000, lines


TIMING = re.compile(r"\b\d+(\.\d+)?\s?(us|µs|ms|ns|s|seconds?|minutes?)\b|\b\d+(\.\d+)?x (slower|faster)\b")


def comments_and_docstrings(path: Path) -> list[str]:
    text = path.read_text()
    found = [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            found += [doc] if doc else []
    return found


def test_no_code_comment_holds_a_timing():
    timed = [
        f"{path.relative_to(REPO)}: {match.group(0)!r}"
        for path in PACKAGE.rglob("*.py")
        for text in comments_and_docstrings(path)
        for match in TIMING.finditer(text)
    ]
    assert not timed, timed
    assert TIMING.search("costs ~350 us a step") and TIMING.search("1.4x slower")  # the pattern can fail


def test_the_readme_says_first_what_to_read_first():
    first_screen = "\n".join((REPO / "README.md").read_text().splitlines()[:45])
    assert "Read in this order" in first_screen
    order = [first_screen.find(f"{name}.py") for name in ("data", "network", "backprop", "xor_module", "report")]
    assert -1 not in order and order == sorted(order), order
