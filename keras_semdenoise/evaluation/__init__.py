"""Evaluation: denoisers (PSNR/SSIM tables, ``denoising``) and, beside them, high-level tasks (``tasks``, with
bootstrap intervals over images in ``intervals`` and CBM3D estimates kept in ``cbm3d_cache``)."""

from keras_semdenoise.evaluation import intervals, store  # noqa: F401
from keras_semdenoise.evaluation.denoising import (  # noqa: F401
    PROTOCOL,
    Method,
    denoiser_method,
    evaluate,
    file_identity,
    machine_description,
    markdown_tables,
    mean_psnr,
    measure,
    measure_image,
    named_models,
    with_identity,
)
