"""Exporting a denoiser file (a ``.keras`` path, or the shipped model for a noise level) to the formats that
serve it: a TF Serving SavedModel, TFLite files per precision. ``semdenoise export`` and the ``tools/export_*``
scripts run these."""

from __future__ import annotations

import os

from keras_semdenoise import noise
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.deploy import export, inference
from keras_semdenoise.models import shipped


def model_path(path: str | None, sigma_255: float) -> str:
    """``path`` where given (it must exist), else the shipped model for ``sigma_255`` (the one fallback rule)."""
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model not found: {path}")
        return path
    return shipped.shipped_model_for_sigma(noise.check_sigma(sigma_255))[0]


def savedmodel(
    path: str | None, sigma_255: float, base: str, name: str = "semdenoise", version=None, precision: str = "auto"
):
    """Exports to ``<base>/<name>/<version>/`` (TF Serving's layout); returns ``(model file, folder written)``."""
    source = model_path(path, sigma_255)
    model = inference.load_denoiser(source, precision=precision)
    return source, export.export_savedmodel(model, base, name, version)


def tflite(
    path: str | None,
    sigma_255: float,
    out_dir: str,
    precisions=("fp32",),
    calibration_dir: str | None = None,
    calibration_patches: int = export.CALIBRATION_PATCHES,
) -> list[str]:
    """Writes ``<out_dir>/<model name>_<precision>.tflite`` per precision; int8 is calibrated on noisy patches of
    ``calibration_dir`` (default: CBSD432 under the data root). Returns the files written.

    Raises:
        ValueError: an unknown precision, or int8 without calibration images.
    """
    unknown = [p for p in precisions if p not in export.TFLITE_PRECISIONS]
    if unknown:
        raise ValueError(f"unknown precision {unknown[0]!r}: use {', '.join(export.TFLITE_PRECISIONS)}")
    source = model_path(path, sigma_255)
    calibration = None
    if "int8" in precisions:
        folder = calibration_dir or os.path.join(default_data_root(), "CBSD432")
        if not os.path.isdir(folder):
            raise ValueError(f"int8 needs calibration images: no folder {folder} (give --calibration-dir)")
        calibration = export.calibration_images(folder, noise.check_sigma(sigma_255), calibration_patches)
    model = inference.load_denoiser(source)
    stem = os.path.splitext(os.path.basename(source))[0]
    written = []
    for precision in precisions:
        out = os.path.join(out_dir, f"{stem}_{precision}.tflite")
        export.export_tflite(model, out, precision, calibration if precision == "int8" else None)
        written.append(out)
    return written
