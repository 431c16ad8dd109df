"""Flat colour patches plus Gaussian noise: does a denoiser remove the noise on every colour?

A flat patch has no texture, so a denoiser's output error on it is the noise it leaves (or adds). Measured
here: the FFDNet-style peer trained with BN on CBSD432 (``saved_models/peers/``) leaves more noise than it
was given on saturated reds (R high, G and B low): its activations grow layer after layer through the BN
layers' moving statistics, while on grey they stay small. That is why it fails on Kodak24's red
kodim02 (and its permuted-channel copies do not). ``tools/probe_flat_colours.py`` writes the table.

Colours are RGB in [0, 1]; the noise is the tables' seeded noise (``noise.add_seeded_gaussian_noise``),
named by the colour, so every model sees the same noisy patches.
"""

from __future__ import annotations

import numpy as np

from keras_semdenoise import inference, noise

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


def flat_colour_errors(model, sigma_255: float, colours: dict[str, tuple[float, float, float]] = COLOURS,
                       size: int = PATCH_SIZE) -> dict[str, dict[str, float]]:
    """``{colour name: {"noisy_rmse", "output_rmse"}}`` on ``size x size`` flat patches plus seeded noise.

    ``model`` is any denoiser ``inference.denoise`` takes; RMSE is on the [0, 1] scale, the output
    unclipped (what the network gives). An output RMSE above the noisy one means the model added error.
    """
    if size < 8:
        raise ValueError(f"patches need a side of at least 8 pixels, got {size}")
    results = {}
    for name, colour in colours.items():
        if len(colour) != 3 or not all(0.0 <= value <= 1.0 for value in colour):
            raise ValueError(f"colour {name!r} must be three values in [0, 1], got {colour}")
        clean = np.broadcast_to(np.asarray(colour, np.float32), (size, size, 3)).copy()
        noisy = noise.add_seeded_gaussian_noise(clean, sigma_255, f"flat colour {name}")
        output = inference.denoise(model, noisy)
        results[name] = {"noisy_rmse": _rmse(noisy, clean), "output_rmse": _rmse(output, clean)}
    return results


def markdown(results: dict[str, dict[str, dict[str, float]]], sigma_255: float) -> str:
    """A table of output RMSE x 255 per colour (rows) and model (columns); the noisy input in the first column.

    ``results`` is ``{model name: flat_colour_errors(...)}``; a cell is bold where the model added error.
    """
    names = list(results)
    colours = list(next(iter(results.values()))) if results else []
    lines = [f"Output RMSE on flat {PATCH_SIZE}x{PATCH_SIZE} patches plus seeded Gaussian noise, sigma "
             f"{sigma_255:g} (0..255 scale; lower is better; **bold**: more error than the noisy input).", "",
             "| colour (RGB) | noisy | " + " | ".join(names) + " |", "|---|" + "---:|" * (len(names) + 1)]
    for colour in colours:
        noisy = results[names[0]][colour]["noisy_rmse"] * 255
        cells = []
        for name in names:
            value = results[name][colour]["output_rmse"] * 255
            cells.append(f"**{value:.1f}**" if value > noisy else f"{value:.1f}")
        rgb = ", ".join(f"{v:g}" for v in COLOURS.get(colour, ()))
        lines.append(f"| {colour} ({rgb}) | {noisy:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
