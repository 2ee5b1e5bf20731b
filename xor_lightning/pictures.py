"""The pictures of a run, as pure functions: hypothesis grid in, uint8 RGB image out, and their writers.

`boundary_image` is the cheap one (numpy and Pillow) that goes to TensorBoard during training;
the matplotlib figures are drawn once, when fit ends. Matplotlib is used through `Figure` and its Agg
canvas, never pyplot, so the library leaves the user's backend alone.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from xor_lightning.data import xor_truth_table

PAD = 0.1  # the grid covers [-PAD, 1 + PAD]^2, so points at the corners sit whole inside the frame
LN2 = math.log(2)  # the plateau: every output 1/2
BLUE, WHITE, RED = (np.array(c, dtype=np.float32) for c in ((33, 102, 172), (247, 247, 247), (178, 24, 43)))
INK = (30, 30, 30)
# Below this spread (max - min over the square) the output is flat: no 0.5 contour is drawn. The
# perceptron (seed 777, 10001 steps) ends at 0.5 to within 6e-8 over the whole square.
FLAT_RANGE = 0.01
PROJECTOR_WIDTH = 800  # pixels: the narrowest picture a projector shows legibly

PLATEAU_TOLERANCE = 0.01  # "stuck on the plateau": a cost within this of ln 2


def hypothesis_grid(module: torch.nn.Module, resolution: int) -> torch.Tensor:
    """(R, R) hypothesis over [-PAD, 1+PAD]^2; row i is x2 = -PAD + i (1 + 2 PAD) / (R - 1), column j is x1."""
    device = next(module.parameters()).device
    axis = torch.linspace(-PAD, 1 + PAD, resolution, device=device)
    x1, x2 = torch.meshgrid(axis, axis, indexing="xy")
    with torch.no_grad():
        return module(torch.stack([x1.flatten(), x2.flatten()], dim=1)).reshape(resolution, resolution).float().cpu()


def colourise(h: np.ndarray) -> np.ndarray:
    """Hypothesis in [0, 1] -> RGB float: blue (0), white (0.5), red (1)."""
    h = h[..., None]
    return np.where(h < 0.5, BLUE + (WHITE - BLUE) * (2 * h), WHITE + (RED - WHITE) * (2 * h - 1))


@functools.cache
def _point_masks(size: int) -> list[tuple[np.ndarray, ...]]:
    """Per XOR point: black disc, white disc, dot (flat pixel indices, each disc inside the last) and colour.

    Indices, not boolean masks: painting ~800 listed pixels skips scanning all 65,536 for each disc.
    """
    to_px = (size - 1) / (1 + 2 * PAD)
    yy, xx = np.mgrid[:size, :size]
    radius, masks = size / 22, []
    X, Y = xor_truth_table()
    for (x1, x2), y in zip(X.tolist(), Y[:, 0].tolist(), strict=True):
        d2 = (yy - (1 + PAD - x2) * to_px) ** 2 + (xx - (x1 + PAD) * to_px) ** 2
        colour = (RED if y else BLUE).astype(np.uint8)
        discs = (np.flatnonzero(d2 <= r**2) for r in (radius + 4, radius + 2, radius))
        masks.append((*discs, colour))
    return masks


RAMP = colourise(np.linspace(0, 1, 256, dtype=np.float32)).round().astype(np.uint8)  # (256, 3)


def is_flat(h: np.ndarray | torch.Tensor) -> bool:
    """True when the output varies by less than FLAT_RANGE over the square: its 0.5 contour is noise, not a boundary."""
    return float(h.max() - h.min()) < FLAT_RANGE


def boundary_image(hypothesis: torch.Tensor, step: int, size: int = 256, title: str | None = None) -> np.ndarray:
    """(H, W, 3) uint8: the hypothesis, its 0.5 contour, the points, a colour key, and the step (or `title`).

    Cheap enough for TensorBoard during training and for every frame of training.gif. Margins and text
    grow with `size`, so a frame drawn at projector size stays as legible as the 256-pixel one. A (nearly)
    flat output gets no contour: the 0.5 level of an output that is 1/2 everywhere is rounding noise.
    """
    k = size / 256  # the layout below is the 256-pixel one, scaled
    flat = is_flat(hypothesis)
    h = Image.fromarray(np.flipud(np.nan_to_num(hypothesis.numpy(), nan=0.5)).astype(np.float32))
    h = np.asarray(h.resize((size, size), Image.Resampling.BILINEAR))  # x2 upwards, smooth
    heat = RAMP.take(np.rint(h.clip(0, 1) * 255).astype(np.uint8), axis=0)  # a table look-up
    if not flat:
        above = h > 0.5
        edge = np.zeros_like(above)
        edge[1:, :] |= above[1:, :] != above[:-1, :]
        edge[:, 1:] |= above[:, 1:] != above[:, :-1]
        for _ in range(max(1, round(k))):  # two pixels wide at 256, wider on a bigger frame
            edge[1:, 1:] |= edge[:-1, :-1]
        heat[edge] = 0
    to_px = (size - 1) / (1 + 2 * PAD)  # pixels per unit of x
    lo, hi = round(PAD * to_px), round((1 + PAD) * to_px)
    heat[lo : hi + 1, [lo, hi]] = heat[[lo, hi], lo : hi + 1] = 90  # the unit square, in grey
    pixels = heat.reshape(-1, 3)  # a view: painting it paints heat
    for outer, white, dot, colour in _point_masks(size):
        pixels[outer], pixels[white], pixels[dot] = 0, 255, colour  # visible on red, blue and white alike
    top, bottom, margin = round(22 * k), round(30 * k), round(8 * k)
    canvas = Image.new("RGB", (size + 2 * margin, top + size + bottom), "white")
    canvas.paste(Image.fromarray(heat), (margin, top))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=round(14 * k))
    draw.text((margin, round(3 * k)), title or f"step {step}", fill=INK, font=font)
    if title is None:
        key = "dots: targets, flat output: no line" if flat else "dots: targets, line: 0.5"
        draw.text((margin + size, round(3 * k)), key, fill=INK, font=font, anchor="ra")
    key_y, key_x0, key_x1 = top + size + round(9 * k), margin + round(100 * k), margin + size - round(14 * k)
    ramp = RAMP[np.linspace(0, 255, key_x1 - key_x0).round().astype(np.uint8)]
    canvas.paste(Image.fromarray(np.repeat(ramp[None], round(12 * k), axis=0)), (key_x0, key_y))
    draw.text((margin, key_y - 1), "hypothesis", fill=INK, font=font)
    draw.text((key_x0 - round(4 * k), key_y - 1), "0", fill=INK, font=font, anchor="ra")
    draw.text((key_x1 + round(4 * k), key_y - 1), "1", fill=INK, font=font)
    middle = (key_x0 + key_x1) // 2
    draw.line([(middle, key_y - 2), (middle, key_y + round(13 * k))], fill=0, width=max(2, round(2 * k)))
    return np.asarray(canvas)


def _figure(width: float, height: float, dpi: int = 80):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def boundary_figure(hypothesis: torch.Tensor, title: str) -> np.ndarray:
    """(H, W, 3) uint8 figure with axes: the hypothesis, its 0.5 contour, the labelled points, a colour bar."""
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("xor", [BLUE / 255, WHITE / 255, RED / 255])
    h = hypothesis.numpy()
    fig = _figure(4.0, 3.4, dpi=200)  # 800 x 680 px: text scales with the dpi
    ax = fig.add_subplot()
    extent = (-PAD, 1 + PAD, -PAD, 1 + PAD)
    shown = ax.imshow(h, origin="lower", extent=extent, vmin=0, vmax=1, cmap=cmap, interpolation="bilinear")
    if is_flat(h):
        title += "\nflat output: no decision boundary"
    elif h.min() < 0.5 < h.max():  # the boundary exists once the net separates anything
        ax.contour(h, levels=[0.5], colors="k", linewidths=1.5, origin="lower", extent=extent)
    X, Y = xor_truth_table()
    # A white ring in a black one: the target's colour stays visible on a region of the same colour.
    ax.scatter(X[:, 0], X[:, 1], c="white", edgecolors="k", linewidths=1.5, s=260, clip_on=False)
    ax.scatter(X[:, 0], X[:, 1], c=Y[:, 0], cmap=cmap, vmin=0, vmax=1, s=110, clip_on=False)
    ax.set(title=title, xlabel="x1", ylabel="x2", xticks=[0, 1], yticks=[0, 1], aspect="equal")
    fig.colorbar(shown, ax=ax, label="hypothesis", ticks=[0, 0.5, 1], shrink=0.85)
    return _pixels(fig)


def loss_curve_figure(
    steps: Sequence[int], costs: Sequence[float], every_n_steps: int, experiment: str | None = None
) -> np.ndarray:
    """(H, W, 3) uint8: the cost at each printed step on a log scale, the ln 2 plateau marked.

    `experiment` (e.g. "xor_nn, 2-2-1, lr 1") heads the title, so a projected curve says what it is."""
    fig = _figure(6.0, 3.6, dpi=160)  # 960 x 576 px
    ax = fig.add_subplot()
    on_plateau = [s for s, c in zip(steps, costs, strict=True) if abs(c - LN2) < PLATEAU_TOLERANCE]
    if on_plateau:
        first, last = on_plateau[0], on_plateau[-1]
        ax.axvspan(first, last, color="tab:orange", alpha=0.12, label=f"on the plateau: steps {first}-{last}")
    ax.axhline(LN2, color="tab:orange", linestyle="--", linewidth=1.5, label="ln 2 = 0.6931: every output 1/2")
    ax.semilogy(steps, costs, color="k", linewidth=1.5, marker="." if len(steps) <= 60 else None, label="cost")
    title = f"cost at each printed step (every {every_n_steps})"
    title = f"{experiment}\n{title}" if experiment else title
    ax.set(xlabel="step", ylabel="cost (log scale)", title=title)
    ax.set_ylim(min(LN2, *costs) / 1.6, max(1.0, *costs) * 1.1)  # ln 2 never on the frame's edge
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best")
    return _pixels(fig)


def png_bytes(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 as PNG at zlib level 1: faster than Pillow's default level 6, for a file ~20% larger."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def write_png(image: np.ndarray, path: Path) -> None:
    """Written beside the target, then renamed: a half-written PNG never replaces a good one."""
    tmp = _temporary(path)
    Image.fromarray(image).save(tmp, format="PNG")  # optimize=True: a few % smaller, several times slower
    os.replace(tmp, path)


@functools.cache
def _gif_palette() -> Image.Image:
    """The 256 colours of every frame: 224 steps of the hypothesis ramp and 32 greys (ink, frame, text)."""
    ramp = RAMP[np.linspace(0, 255, 224).round().astype(np.intp)]
    greys = np.repeat(np.linspace(0, 255, 32).round()[:, None], 3, axis=1)
    palette = Image.new("P", (1, 1))
    palette.putpalette(np.concatenate([ramp, greys]).astype(np.uint8).ravel().tolist())
    return palette


def write_gif(frames: Sequence[np.ndarray], path: Path, ms_per_frame: int = 500, ms_last: int = 2500) -> None:
    """An endlessly looping GIF, one frame each, the last held longer; written atomically like write_png.

    Every frame maps to one fixed palette (no pixel off by more than 7 in any channel): a 64-colour
    palette computed per frame took ~4x longer and put plateau pixels up to 70 off.
    """
    palette = _gif_palette()
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [ms_last]
    tmp = _temporary(path)
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    os.replace(tmp, path)
