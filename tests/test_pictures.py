"""The picture functions on their own: legible TensorBoard image, loss curve, atomic PNG and GIF writers."""

import io
import math

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from xor_lightning import XORClassifier, XORDataModule
from xor_lightning.inspection import DecisionBoundary, add_png
from xor_lightning.pictures import (
    BLUE,
    PAD,
    PROJECTOR_WIDTH,
    boundary_figure,
    boundary_image,
    loss_curve_figure,
    write_gif,
    write_png,
)

HALF = torch.full((64, 64), 0.5)  # every output 1/2: the plateau, no contour, one flat colour


def heat_area(image: np.ndarray) -> np.ndarray:
    """The part of the image that shows the hypothesis: where the plateau's flat colour is."""
    flat = np.all(image == image[image.shape[0] // 2, image.shape[1] // 2], axis=-1)
    rows, cols = np.flatnonzero(flat.any(axis=1)), np.flatnonzero(flat.any(axis=0))
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def test_boundary_image_has_the_points_fully_inside_the_frame():
    heat = heat_area(boundary_image(HALF, step=0))
    assert heat.shape[0] == heat.shape[1] >= 256
    black = np.all(heat == 0, axis=-1)  # the points' outer rings (the 0.5 contour is absent here)
    assert not black[:3].any() and not black[-3:].any() and not black[:, :3].any() and not black[:, -3:].any()
    h = heat.shape[0] // 2
    quadrants = [black[:h, :h].sum(), black[:h, h:].sum(), black[h:, :h].sum(), black[h:, h:].sum()]
    assert min(quadrants) > 0 and max(quadrants) - min(quadrants) <= 0.1 * max(quadrants)  # four whole rings
    # Each ring's centre sits PAD inside the frame, at the unit square's corner.
    rows = np.flatnonzero(black[:h, :h].any(axis=1))
    centre = (rows[0] + rows[-1]) / 2 / (heat.shape[0] - 1)
    assert math.isclose(centre, PAD / (1 + 2 * PAD), abs_tol=0.01)


def test_boundary_image_keeps_the_target_colour_inside_a_contrasting_ring_on_a_same_coloured_region():
    zeros = boundary_image(torch.zeros(64, 64), step=0)  # all blue, as around (0, 0) and (1, 1) when solved
    heat = heat_area(zeros)
    blue, white = np.all(heat == BLUE.astype(np.uint8), axis=-1), np.all(heat == 255, axis=-1)
    h = heat.shape[0] // 2
    assert white[h:, :h].sum() > 50  # the white ring around (0, 0) separates its blue dot from the blue region
    assert blue.sum() > 0.5 * blue.size


def test_boundary_image_shows_the_step_and_a_colour_key():
    a, b = boundary_image(HALF, step=0), boundary_image(HALF, step=10000)
    differs = np.flatnonzero(np.any(a != b, axis=(1, 2)))
    assert differs.size and differs.max() < 22  # only the label above the picture changes
    bottom = a[-30:]  # the key: blue to red
    reds, blues = bottom[..., 0].astype(int) - bottom[..., 2], bottom[..., 2].astype(int) - bottom[..., 0]
    assert reds.max() > 100 and blues.max() > 100


def test_loss_curve_marks_the_plateau_in_orange():
    steps = list(range(0, 10001, 100))
    costs = [math.log(2) if s < 5000 else 10 ** (-(s - 5000) / 1500) * 0.69 for s in steps]
    image = loss_curve_figure(steps, costs, 100)
    orange = (image[..., 0] > 200) & (image[..., 1] > 100) & (image[..., 1] < 160) & (image[..., 2] < 60)
    assert image.dtype == np.uint8 and orange.sum() > 100


def test_write_png_and_gif_replace_atomically_and_keep_every_frame(tmp_path):
    frames = [np.full((40, 50, 3), v, dtype=np.uint8) for v in (0, 120, 240)]
    write_png(frames[1], tmp_path / "a.png")
    write_gif(frames, tmp_path / "a.gif", ms_per_frame=100, ms_last=900)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.png"]  # no .tmp left behind
    with Image.open(tmp_path / "a.png") as png:
        assert np.array_equal(np.asarray(png.convert("RGB")), frames[1])
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 3 and gif.info["loop"] == 0
        durations = []
        for k in range(3):
            gif.seek(k)
            durations.append(gif.info["duration"])
            # One fixed 256-colour palette for every frame: greys land within half a step (255 / 31 / 2).
            difference = np.asarray(gif.convert("RGB")).astype(int) - frames[k]
            assert np.abs(difference).max() <= 4
    assert durations == [100, 100, 900]  # the last frame, the trained net, stays up longest


def test_tensorboard_png_holds_every_pixel_of_the_image(tmp_path):
    image = boundary_image(torch.linspace(0, 1, 64 * 64).reshape(64, 64), 1000)
    with SummaryWriter(tmp_path) as writer:
        add_png(writer, "decision_boundary", image, 1000)
    acc = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    acc.Reload()
    [event] = acc.Images("decision_boundary")
    assert (event.step, event.height, event.width) == (1000, *image.shape[:2])
    decoded = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
    assert np.array_equal(decoded, image)  # PNG is lossless at any compression level


def test_gif_frames_keep_the_plateaus_shades(tmp_path):
    # Early frames differ from 0.5 by thousandths: the fixed palette must still show their shades.
    frame = boundary_image(0.5 + 0.02 * torch.linspace(-1, 1, 64 * 64).reshape(64, 64), 0)
    write_gif([frame], tmp_path / "plateau.gif")
    with Image.open(tmp_path / "plateau.gif") as gif:
        shown = np.asarray(gif.convert("RGB"))
    assert np.abs(shown.astype(int) - frame).max() <= 7
    square = (slice(22, 22 + 256), slice(8, 8 + 256))  # the heat map: below the 22-pixel title, 8 from the left
    shades = [len(np.unique(image[square].reshape(-1, 3), axis=0)) for image in (frame, shown)]
    assert shades[1] >= shades[0] * 2 // 3


def test_a_nearly_flat_output_gets_no_contour():
    # The perceptron ends at 1/2 everywhere (to 6e-8): its 0.5 level set is noise that looked like structure.
    nearly_flat = 0.5 + 1e-4 * torch.linspace(-1, 1, 64 * 64).reshape(64, 64)
    black = lambda image: int(np.all(image == 0, axis=-1).sum())  # noqa: E731
    assert black(boundary_image(nearly_flat, 0)) == black(boundary_image(HALF, 0))  # only the points' rings
    sloped = 0.5 + 0.2 * torch.linspace(-1, 1, 64 * 64).reshape(64, 64)
    assert black(boundary_image(sloped, 0)) > black(boundary_image(HALF, 0)) + 100  # a real boundary is drawn


@pytest.mark.parametrize("size", [256, 768])
def test_boundary_image_scales_its_text_with_its_size(size):
    image = boundary_image(HALF, 0, size=size)
    assert image.shape[1] == size + 2 * round(8 * size / 256)
    ink = np.flatnonzero(np.any(image[: round(22 * size / 256)] < 100, axis=(1, 2)))
    assert ink.size and ink.max() - ink.min() >= 8 * size / 256  # the title's letters grow with the frame


def test_projector_sized_figures_with_the_experiment_in_the_title():
    grid = 0.5 + 0.4 * torch.linspace(-1, 1, 64 * 64).reshape(64, 64)
    assert boundary_figure(grid, "xor_nn, 2-2-1, lr 1").shape[1] >= PROJECTOR_WIDTH
    steps, costs = [0, 100, 200], [0.7, 0.6, 0.1]
    plain, named = loss_curve_figure(steps, costs, 100), loss_curve_figure(steps, costs, 100, "xor_nn, 2-2-1, lr 1")
    assert plain.shape[1] >= PROJECTOR_WIDTH and named.shape[1] >= PROJECTOR_WIDTH
    assert not np.array_equal(plain, named)


def test_training_gif_has_frames_where_xor_nn_learns(tiny_trainer, tmp_path):
    # xor_nn (seed 777) is white at step 2000 and solved by 3000: the GIF must show the steps between.
    L.seed_everything(777, verbose=False)
    boundary = DecisionBoundary(every_n_steps=1000)
    trainer, _ = tiny_trainer(3001, callbacks=[boundary], default_root_dir=tmp_path)
    trainer.fit(XORClassifier(hidden_sizes=[2]), XORDataModule())
    steps = [s for s, _, _ in boundary.snapshots]
    assert {0, 1000, 2000, 3000} <= set(steps)
    assert len([s for s in steps if 2000 < s < 3000]) >= 3
    assert len([s for s in steps if 200 < s < 2000 and s % 1000]) <= 2  # the plateau: almost no extra frames
    boundary._write(tmp_path, trainer, trainer.lightning_module)
    with Image.open(tmp_path / "training.gif") as gif:
        assert gif.n_frames == len(steps) + 1 and gif.size[0] >= PROJECTOR_WIDTH
