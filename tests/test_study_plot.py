"""The grid's heatmap cannot mislead: the perceptron and the 1-unit net are named apart, and a median
from a handful of solved seeds is greyed out, not coloured as the cell's typical net."""

import numpy as np
from PIL import Image

from xor_lightning.studies.plots import MIN_SOLVED_FRACTION, MIN_SOLVED_SEEDS, heatmaps, row_label, too_few_solved

GREY = (217, 217, 217)  # facecolor "0.85"


def grey_pixels(path) -> int:
    with Image.open(path) as png:
        return int(np.all(np.asarray(png.convert("RGB")) == GREY, axis=-1).sum())


def draw(path, solved, copies=1024):
    failures = [[("saddle", 1 - f)] for f in solved]
    heatmaps(["2-1", "2-1-1"], ["1"], [[f] for f in solved], [[900.0], [4000.0]], path, "t", failures, copies=copies)


def test_the_two_smallest_architectures_are_spelled_out():
    assert row_label("2-1") != row_label("2-1-1")
    assert "perceptron" in row_label("2-1") and "1 hidden unit" in row_label("2-1-1")
    assert row_label("2-2-1") == "2-2-1"


def test_too_few_solved_is_a_count_and_a_share():
    assert too_few_solved(0.03, 1024)  # 31 seeds, but 3% of the cell
    assert too_few_solved(0.5, 10) and not too_few_solved(0.5, 2 * MIN_SOLVED_SEEDS)  # 5 seeds vs 10
    assert not too_few_solved(MIN_SOLVED_FRACTION, 1024)


def test_a_median_of_few_solved_seeds_is_greyed_out(tmp_path):
    draw(tmp_path / "few.png", [0.03, 0.9])  # the grid's 2-1-1 at lr 1: 3% solved
    draw(tmp_path / "many.png", [0.5, 0.9])
    with Image.open(tmp_path / "few.png") as png:
        assert png.size[0] >= 800
    assert grey_pixels(tmp_path / "few.png") > 500 and grey_pixels(tmp_path / "many.png") < 50
