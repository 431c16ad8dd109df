"""PSNR/SSIM tables of denoisers on clean test sets with seeded noise (the paper's Tables II/III): which methods
(the noisy input, CBM3D, the shipped models, any ``.keras`` file), which sets, written as ``results.json``
(resumable) and ``results.md``. ``semdenoise evaluate`` and ``tools/evaluate_denoiser.py`` run it."""

from __future__ import annotations

import functools
import os

from keras_semdenoise import atomic
from keras_semdenoise.data import images as image_data
from keras_semdenoise.data import roots
from keras_semdenoise.deploy import inference
from keras_semdenoise.evaluation import cbm3d
from keras_semdenoise.evaluation.denoising import (
    NOISY_METHOD,
    denoiser_method,
    evaluate,
    file_identity,
    markdown_tables,
    named_models,
    with_identity,
)
from keras_semdenoise.models import shipped

BUILT_IN_METHODS = ("noisy", "cbm3d", "proposed", "proposed_x8")


@functools.cache
def _model(path: str, precision: str = "fp32"):
    return inference.load_denoiser(path, precision=precision)


def model_method(path_pattern: str, tile_size: int, self_ensemble: bool = False, precision: str = "fp32"):
    """Factory: sigma -> method running the model at ``path_pattern`` (None if that file is missing)."""

    def factory(sigma):
        path = path_pattern.replace("{sigma}", f"{sigma:g}")
        if not os.path.exists(path):
            return None
        identity = (
            file_identity(path) + (" x8" if self_ensemble else "") + (f" {precision}" if precision != "fp32" else "")
        )
        return with_identity(denoiser_method(_model(path, precision), tile_size, self_ensemble), identity)

    return factory


def build_methods(names, extra_models, tile_size: int = inference.DEFAULT_TILE_SIZE, precision: str = "fp32"):
    """``{row name: sigma -> method or None}`` for the built-in ``names`` (``BUILT_IN_METHODS``) and the
    ``NAME=PATH`` entries of ``extra_models`` (``{sigma}`` in PATH filled per level).

    Raises:
        ValueError: an unknown method name or a malformed ``NAME=PATH``.
    """
    suffix = f", {precision}" if precision != "fp32" else ""
    methods = {}
    for name in names:
        if name == "noisy":
            methods[NOISY_METHOD] = lambda sigma: lambda noisy, _sigma: noisy
        elif name == "cbm3d":
            methods["CBM3D"] = lambda sigma: cbm3d.cbm3d_denoise
        elif name in ("proposed", "proposed_x8"):
            ours = shipped.shipped_models()
            ensemble = name == "proposed_x8"
            title = "Proposed (ours, x8 self-ensemble" if ensemble else "Proposed (ours"
            methods[f"{title}{suffix})"] = lambda sigma, ensemble=ensemble, ours=ours: (
                model_method(ours[sigma], tile_size, ensemble, precision)(sigma) if sigma in ours else None
            )
        else:
            raise ValueError(f"unknown method {name!r}: use {', '.join(BUILT_IN_METHODS)} or --model NAME=PATH")
    for name, path in named_models(extra_models, sigma_template=True).items():
        methods[name + (f" ({precision})" if suffix else "")] = model_method(path, tile_size, precision=precision)
    return methods


def load_sets(sets, data_root: str | None = None, limit: int | None = None) -> dict:
    """``{set name: [(image name, clean (H, W, 3) float32 in [0, 1])]}``: each of ``sets`` a folder, or a name
    under ``data_root`` (default ``$SEMDENOISE_DATA_DIR`` or ``../shared/data``; ``roots.set_folder``).

    Raises:
        ValueError: a set with no images (or a folder that does not exist).
    """
    return {
        os.path.basename(os.path.normpath(entry)): image_data.evaluation_images(
            roots.set_folder(entry, data_root), limit or None
        )
        for entry in sets
    }


def write_tables(datasets: dict, sigmas, methods: dict, out: str, ssim: bool = True, crop_border: int = 0) -> str:
    """Measures every cell (``denoising.evaluate``, resumable through ``<out>/results.json``), writes
    ``<out>/results.md`` and returns its markdown."""
    os.makedirs(out, exist_ok=True)
    state = evaluate(
        datasets, [float(s) for s in sigmas], methods, os.path.join(out, "results.json"), ssim, crop_border
    )
    table = markdown_tables(state)
    atomic.write_text(os.path.join(out, "results.md"), table + "\n")
    return table
