"""The shipped models: where they live and which one serves a noise level (``resolve_model``).

Shipped models are ``.keras`` files in one folder (``models_dir``): ``denoiser_sigma<S>.keras`` per noise
level ``S`` (0..255 scale), ``denoiser_blind.keras`` for any level, and ``MODELS.json`` recording how each
was made. ``resolve_model`` is the one model choice of the CLI, the web page and the Beam pipeline.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

from keras_semdenoise import noise

MODELS_ENV = "SEMDENOISE_MODELS_DIR"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The wheel's copy of the shipped models (setup.py copies them in at build time; a checkout has none).
INSTALLED_MODELS_DIR = os.path.join(_PACKAGE_DIR, "saved_models")
# Where the project keeps them: saved_models/ at the top of the checkout (also what an editable install reads).
CHECKOUT_MODELS_DIR = os.path.join(os.path.dirname(_PACKAGE_DIR), "saved_models")
_SHIPPED_PATTERN = re.compile(r"denoiser_sigma(\d+(?:\.\d+)?)\.keras$")
BLIND_MODEL = "denoiser_blind.keras"
# The learned peers trained here (DnCNN, FFDNet-style) are shipped in this subfolder of the models folder
# (with a MODELS.json of their own), so the per-sigma lookup of our models never picks one.
PEERS_FOLDER = "peers"


def models_dir() -> str:
    """Folder of the shipped models, the first of:

    1. ``$SEMDENOISE_MODELS_DIR`` where set (taken as given);
    2. ``INSTALLED_MODELS_DIR``, ``keras_semdenoise/saved_models/`` inside an installed wheel;
    3. ``CHECKOUT_MODELS_DIR``, the ``saved_models/`` beside the package in a source checkout or an
       editable install (``pip install -e .``), also the answer when none of them exists.

    The wheel's own copy comes before the checkout's because only a built install has it, whereas the
    folder beside an installed package is ``site-packages/saved_models``, a name any distribution may use.
    """
    env = os.environ.get(MODELS_ENV)
    if env:
        return env
    if os.path.isdir(INSTALLED_MODELS_DIR):
        return INSTALLED_MODELS_DIR
    return CHECKOUT_MODELS_DIR


def shipped_models(folder: str | None = None) -> dict[float, str]:
    """``{sigma_255: path}`` of the per-sigma models in ``folder`` (default ``models_dir()``)."""
    folder = folder or models_dir()
    found = {}
    for path in glob.glob(os.path.join(folder, "denoiser_sigma*.keras")):
        match = _SHIPPED_PATTERN.search(os.path.basename(path))
        if match:
            found[float(match.group(1))] = path
    return dict(sorted(found.items()))


def shipped_by_name(folder: str | None = None) -> dict[str, str]:
    """``{"sigma15": path, ..., "blind": path}``: the per-sigma models, then the blind one where shipped."""
    folder = folder or models_dir()
    models = {f"sigma{s:g}": p for s, p in shipped_models(folder).items()}
    blind = os.path.join(folder, BLIND_MODEL)
    if os.path.exists(blind):
        models["blind"] = blind
    return models


# How ``--sigma auto`` turns an estimated sigma into a model. The rules were measured in docs/sigma_auto
# (tools/evaluate_sigma_auto.py: CBSD68 at sigma 5..65 and the real-noise pairs Nam25 / PolyU100):
#   nearest   the per-sigma model nearest to the estimate
#   next_up   the per-sigma model of the smallest sigma >= the estimate (the largest one above all)
#   blind     the blind model, always
#   snap      an estimate below LOW_ESTIMATE -> the lowest per-sigma model; one within SNAP_SIGMA of a
#             per-sigma model -> that model; anything else -> the blind model
# "snap" came within 0.1 dB of the best model per image on every set there. Why the two thresholds: a
# per-sigma model is sharply tuned (the sigma-15 model on sigma-5 noise is 2.6 dB below the blind model),
# and the wavelet estimator reads real camera noise (true std 3.6-4.1) as 0.2-1.3, while no Gaussian-noise
# image of sigma >= 5 was estimated below 5; real camera noise is denoised best by the sigma-15 model.
AUTO_RULES = ("nearest", "next_up", "blind", "snap")
SNAP_SIGMA = 3.0
LOW_ESTIMATE = 3.0
AUTO_RULE = "snap"


def choose_model_for_sigma(sigma_255: float, rule: str = AUTO_RULE, folder: str | None = None) -> tuple[str, str]:
    """``(path, why)``: the shipped model ``rule`` picks for an (estimated) noise level.

    Raises:
        FileNotFoundError: no shipped model (or no blind model where the rule needs one).
        ValueError: an unknown rule.
    """
    if rule not in AUTO_RULES:
        raise ValueError(f"rule must be one of {AUTO_RULES}, got {rule!r}")
    folder = folder or models_dir()
    models = shipped_models(folder)
    blind = os.path.join(folder, BLIND_MODEL)
    if not models and not os.path.exists(blind):
        raise FileNotFoundError(f"no shipped denoiser in {folder} (set {MODELS_ENV} or pass a model path)")
    nearest = min(models, key=lambda s: abs(s - sigma_255)) if models else None
    if rule == "snap" and models and sigma_255 < LOW_ESTIMATE:
        lowest = min(models)
        return models[lowest], f"sigma-{lowest:g} model (estimate below {LOW_ESTIMATE:g}: camera noise or almost clean)"
    if rule == "blind" or (rule == "snap" and (nearest is None or abs(nearest - sigma_255) > SNAP_SIGMA)):
        if os.path.exists(blind):
            return blind, "blind model"
    if not models:
        raise FileNotFoundError(f"no per-sigma model in {folder}")
    if rule == "next_up":
        above = [s for s in models if s >= sigma_255]
        chosen = min(above) if above else max(models)
    else:
        chosen = nearest
    return models[chosen], f"sigma-{chosen:g} model"


def auto_choice_name(estimate_255: float, rule: str = AUTO_RULE, folder: str | None = None) -> str:
    """The name (a key of ``shipped_by_name``: ``"sigma15"``, ``"blind"``) of the model ``rule`` picks."""
    path, _ = choose_model_for_sigma(estimate_255, rule, folder)
    return next(name for name, candidate in shipped_by_name(folder).items() if candidate == path)


def shipped_model_for_sigma(sigma_255: float, folder: str | None = None) -> tuple[str, str | None]:
    """``(path, notice)``: the shipped model for a noise level the user gave (``--sigma 25``), by the one
    fallback rule every entry point shares (the CLI, the web page, Beam, the Python API and the tools):

    the per-sigma model trained for exactly that level, else the blind model, else the nearest per-sigma
    model; ``notice`` (None for an exact match) says which was used instead.

    Raises:
        FileNotFoundError: no shipped model at all.
    """
    folder = folder or models_dir()
    models = shipped_models(folder)
    if sigma_255 in models:
        return models[sigma_255], None
    trained = ", ".join(f"{s:g}" for s in models) or "none"
    blind = os.path.join(folder, BLIND_MODEL)
    if os.path.exists(blind):
        return blind, f"no model trained for sigma {sigma_255:g}; using the blind model (per-sigma models: {trained})"
    if not models:
        raise FileNotFoundError(f"no shipped denoiser in {folder} (set {MODELS_ENV} or pass a model path)")
    nearest = min(models, key=lambda s: abs(s - sigma_255))
    return models[nearest], (
        f"no model trained for sigma {sigma_255:g}; using the sigma-{nearest:g} model (per-sigma models: {trained})"
    )


def parse_sigma_setting(value) -> float | None:
    """A ``--sigma`` setting: ``"auto"`` (any case, or None) -> None, else the level (0..255) checked:
    ``ValueError`` for anything else (``noise.check_sigma``)."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    return noise.check_sigma(value)


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """The model for an image and why: ``reason`` says which model in words (``"sigma-25 model"``,
    ``"blind model"``, the notice of an inexact match; None for a file the user named); ``notice`` is what to tell the user unasked (an inexact match),
    else None; ``estimate`` is the image's estimated sigma (0..255 scale) where the choice was ``auto``.
    """

    path: str
    reason: str | None = None
    notice: str | None = None
    estimate: float | None = None

    @property
    def description(self) -> str:
        """``"estimated sigma 24.7 -> sigma-25 model (denoiser_sigma25.keras)"``: the line users see."""
        chosen = f"{self.reason} ({os.path.basename(self.path)})"
        return chosen if self.estimate is None else f"estimated sigma {self.estimate:.1f} -> {chosen}"


def resolve_model(
    model_path: str | None = None, sigma_255=None, pixels=None, rule: str = AUTO_RULE, folder: str | None = None
) -> ModelChoice:
    """The model ``semdenoise denoise`` (and the web page, and the Beam pipeline) uses for an image.

    Args:
        model_path: a ``.keras`` file the user named: used as it is (``sigma_255`` then only describes
            the inputs).
        sigma_255: the noise level on the 0..255 scale that picks the shipped model (``shipped_model_for_sigma``),
            or ``"auto"`` / None: estimated from ``pixels`` (``noise.estimate_sigma``) and the model picked
            by ``rule`` (``choose_model_for_sigma``).
        pixels: the image, (H, W, 3) float32 in [0, 1] plus noise; needed only for ``auto``.
        folder: the shipped models' folder (default ``models_dir()``).

    Raises:
        FileNotFoundError: ``model_path`` is not a file, or no shipped model fits.
        ValueError: a bad ``sigma_255`` or rule, or ``auto`` without ``pixels``.
    """
    if model_path:
        if not os.path.isfile(model_path):
            raise FileNotFoundError(f"model not found: {model_path}")
        return ModelChoice(model_path)
    level = parse_sigma_setting(sigma_255)
    if level is not None:
        path, notice = shipped_model_for_sigma(level, folder)
        return ModelChoice(path, notice or f"sigma-{level:g} model", notice)
    if pixels is None:
        raise ValueError("sigma 'auto' needs the image to estimate its noise level from")
    estimate = noise.estimate_sigma(pixels)
    path, reason = choose_model_for_sigma(estimate, rule, folder)
    return ModelChoice(path, reason, estimate=estimate)
