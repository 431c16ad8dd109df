"""Exporting a denoiser file (a ``.keras`` path, or the shipped model for a noise level) to the formats that
serve it: a TF Serving SavedModel, TFLite files per precision. ``semdenoise export`` and the ``tools/export_*``
scripts run these; which model is ``shipped.resolve_model``'s answer, as everywhere else."""

from __future__ import annotations

import os

from keras_semdenoise import noise
from keras_semdenoise.data import roots
from keras_semdenoise.deploy import export, inference
from keras_semdenoise.models import shipped


def calibration_folder(calibration_dir: str | None = None) -> str:
    """The training images that calibrate int8: ``calibration_dir``, else ``<data root>/CBSD432``.

    Raises:
        ValueError: that folder does not exist (one line saying what to give).
    """
    folder = calibration_dir or roots.default_training_folder()
    if not os.path.isdir(folder):
        raise ValueError(
            f"int8 needs calibration images: no folder {folder} "
            f"(name a folder of training images, or set {roots.DEFAULT_DATA_DIR_ENV})"
        )
    return folder


def savedmodel(
    path: str | None, sigma_255: float, base: str, name: str = "semdenoise", version=None, precision: str = "auto"
) -> tuple[shipped.ModelChoice, str]:
    """Exports the model at ``path`` (default: the shipped model for ``sigma_255``) to ``<base>/<name>/<version>/``
    (TF Serving's layout); returns ``(the model chosen, folder written)``.

    Raises:
        FileNotFoundError: no such model file, or no shipped model.
        FileExistsError: that version is already there.
    """
    choice = shipped.resolve_model(path, noise.check_sigma(sigma_255))
    model = inference.load_denoiser(choice.path, precision=precision)
    return choice, export.export_savedmodel(model, base, name, version)


def tflite(
    path: str | None,
    sigma_255: float,
    out_dir: str,
    precisions=("fp32",),
    calibration_dir: str | None = None,
    calibration_patches: int | None = None,
) -> tuple[shipped.ModelChoice, list[str]]:
    """Writes ``<out_dir>/<model file stem>_<precision>.tflite`` per precision of the model at ``path`` (default:
    the shipped model for ``sigma_255``); int8 is calibrated on ``calibration_patches`` (default
    ``export.CALIBRATION_PATCHES``) noisy patches (noise ``sigma_255``) of ``calibration_folder(calibration_dir)``.
    Returns ``(the model chosen, files written)``.

    Raises:
        ValueError: an unknown precision, or int8 without calibration images.
        FileNotFoundError: no such model file, or no shipped model.
    """
    unknown = [p for p in precisions if p not in export.TFLITE_PRECISIONS]
    if unknown or not precisions:
        raise ValueError(f"precisions are {', '.join(export.TFLITE_PRECISIONS)}, got {','.join(precisions)!r}")
    sigma_255 = noise.check_sigma(sigma_255)
    choice = shipped.resolve_model(path, sigma_255)
    calibration = None
    if "int8" in precisions:
        count = calibration_patches or export.CALIBRATION_PATCHES
        calibration = export.calibration_images(calibration_folder(calibration_dir), sigma_255, count)
    model = inference.load_denoiser(choice.path)
    stem = os.path.splitext(os.path.basename(choice.path))[0]
    written = []
    for precision in precisions:
        out = os.path.join(out_dir, f"{stem}_{precision}.tflite")
        export.export_tflite(model, out, precision, calibration if precision == "int8" else None)
        written.append(out)
    return choice, written
