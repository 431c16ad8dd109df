"""Flat colour patches plus Gaussian noise: does a denoiser remove the noise on every colour?

A flat patch has no texture, so a denoiser's output error on it is the noise it leaves (or adds). Measured
here: the FFDNet-style peer trained with BN on CBSD432 (``saved_models/peers/``) leaves more noise than it
was given on saturated reds (R high, G and B low): its activations grow layer after layer through the BN
layers' moving statistics, while on grey they stay small. That is why it fails on Kodak24's red
kodim02 (and its permuted-channel copies do not). ``tools/evaluate_flat_colours.py`` writes the table.

Colours are RGB in [0, 1]; the noise is the tables' seeded noise (``noise.add_seeded_gaussian_noise``),
named by the colour, so every model sees the same noisy patches.
"""

from __future__ import annotations

import numpy as np

from keras_semdenoise import noise
from keras_semdenoise.deploy import inference

# Grey levels, saturated primaries and secondaries, and the reds that break the BN peers (kodim02's door).
COLOURS: dict[str, tuple[float, float, float]] = {
    "grey 0.1": (0.1, 0.1, 0.1),
    "grey 0.5": (0.5, 0.5, 0.5),
    "grey 0.9": (0.9, 0.9, 0.9),
    "red": (0.8, 0.2, 0.1),
    "dark red": (0.6, 0.1, 0.1),
    "green": (0.2, 0.8, 0.1),
    "blue": (0.1, 0.2, 0.8),
    "yellow": (0.85, 0.8, 0.1),
    "cyan": (0.1, 0.8, 0.85),
    "magenta": (0.8, 0.1, 0.8),
}
PATCH_SIZE = 64


def _rmse(estimate: np.ndarray, clean: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(estimate, np.float64) - clean) ** 2)))


def flat_colour_patches(
    model, sigma_255: float, colours: dict[str, tuple[float, float, float]] = COLOURS, size: int = PATCH_SIZE
) -> dict[str, dict[str, np.ndarray]]:
    """``{colour name: {"clean", "noisy", "output"}}``: ``size x size`` flat patches (H, W, 3) float32 on the
    [0, 1] scale, the seeded noisy input and ``model``'s output (unclipped: what the network gives).

    ``model`` is any denoiser ``inference.denoise`` takes.
    """
    if size < 8:
        raise ValueError(f"patches need a side of at least 8 pixels, got {size}")
    patches = {}
    for name, colour in colours.items():
        if len(colour) != 3 or not all(0.0 <= value <= 1.0 for value in colour):
            raise ValueError(f"colour {name!r} must be three values in [0, 1], got {colour}")
        clean = np.broadcast_to(np.asarray(colour, np.float32), (size, size, 3)).copy()
        noisy = noise.add_seeded_gaussian_noise(clean, sigma_255, f"flat colour {name}")
        patches[name] = {"clean": clean, "noisy": noisy, "output": np.asarray(inference.denoise(model, noisy))}
    return patches


def errors(patches: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """``{colour name: {"noisy_rmse", "output_rmse"}}`` of ``flat_colour_patches``' patches (the [0, 1] scale).
    An output RMSE above the noisy one means the model added error."""
    return {
        name: {"noisy_rmse": _rmse(p["noisy"], p["clean"]), "output_rmse": _rmse(p["output"], p["clean"])}
        for name, p in patches.items()
    }


def flat_colour_errors(
    model, sigma_255: float, colours: dict[str, tuple[float, float, float]] = COLOURS, size: int = PATCH_SIZE
) -> dict[str, dict[str, float]]:
    """``errors(flat_colour_patches(...))``: the noise each colour's patch keeps after ``model``."""
    return errors(flat_colour_patches(model, sigma_255, colours, size))


def figure(patches: dict[str, dict[str, dict[str, np.ndarray]]], sigma_255: float):
    """A matplotlib figure: a row per colour, the noisy patch then each model's output (clipped to [0, 1] for
    display), each titled with its RMSE x 255; a red title where the model added error.

    ``patches`` is ``{model name: flat_colour_patches(...)}`` (the same colours and noisy inputs for every model).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(patches)
    colours = list(next(iter(patches.values())))
    fig, axes = plt.subplots(
        len(colours), len(names) + 1, figsize=(1.45 * (len(names) + 1), 1.3 * len(colours)), squeeze=False
    )
    for row, colour in enumerate(colours):
        first = patches[names[0]][colour]
        noisy_error = _rmse(first["noisy"], first["clean"]) * 255
        cells = [("noisy input", first["noisy"], noisy_error)]
        cells += [
            (name, patches[name][colour]["output"], _rmse(patches[name][colour]["output"], first["clean"]) * 255)
            for name in names
        ]
        for column, (title, image, error) in enumerate(cells):
            axis = axes[row][column]
            axis.imshow(np.clip(image, 0, 1), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            worse = column > 0 and error > noisy_error
            axis.set_title(
                f"{title}\n{error:.1f}" if row == 0 else f"{error:.1f}",
                fontsize=7,
                color="red" if worse else "black",
                pad=2,
            )
            if column == 0:
                axis.set_ylabel(colour, fontsize=8)
    fig.suptitle(
        f"Flat colours + sigma {sigma_255:g} noise: output RMSE (0..255), red = more than the input's", fontsize=8
    )
    fig.tight_layout()
    return fig


def markdown(results: dict[str, dict[str, dict[str, float]]], sigma_255: float) -> str:
    """A table of output RMSE x 255 per colour (rows) and model (columns); the noisy input in the first column.

    ``results`` is ``{model name: flat_colour_errors(...)}``; a cell is bold where the model added error.
    """
    names = list(results)
    colours = list(next(iter(results.values()))) if results else []
    lines = [
        f"Output RMSE on flat {PATCH_SIZE}x{PATCH_SIZE} patches plus seeded Gaussian noise, sigma "
        f"{sigma_255:g} (0..255 scale; lower is better; **bold**: more error than the noisy input).",
        "",
        "| colour (RGB) | noisy | " + " | ".join(names) + " |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for colour in colours:
        noisy = results[names[0]][colour]["noisy_rmse"] * 255
        cells = []
        for name in names:
            value = results[name][colour]["output_rmse"] * 255
            cells.append(f"**{value:.1f}**" if value > noisy else f"{value:.1f}")
        rgb = ", ".join(f"{v:g}" for v in COLOURS.get(colour, ()))
        lines.append(f"| {colour} ({rgb}) | {noisy:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
