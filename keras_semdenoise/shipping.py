"""The shipped models: where they live, which one serves a noise level, and how a run becomes one.

Shipped models are ``.keras`` files in one folder (``models_dir``): ``denoiser_sigma<S>.keras`` per noise
level ``S`` (0..255 scale), ``denoiser_blind.keras`` for any level, and ``MODELS.json`` recording how each
was made. ``resolve_model`` is the one model choice of the CLI, the web page and the Beam pipeline.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re

from keras_semdenoise import atomic, noise, runs

MODELS_ENV = "SEMDENOISE_MODELS_DIR"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
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


def shipped_model_for_sigma(sigma_255: float, folder: str | None = None) -> tuple[str, str | None]:
    """Path of the shipped model for ``sigma_255`` and a notice if it is not an exact match.

    Raises:
        FileNotFoundError: no shipped model at all.
    """
    models = shipped_models(folder)
    if not models:
        raise FileNotFoundError(
            f"no shipped denoiser in {folder or models_dir()} (set {MODELS_ENV} or pass a model path)"
        )
    if sigma_255 in models:
        return models[sigma_255], None
    nearest = min(models, key=lambda s: abs(s - sigma_255))
    return models[nearest], (
        f"no model trained for sigma {sigma_255:g}; using the sigma-{nearest:g} model "
        f"(shipped: {', '.join(f'{s:g}' for s in models)})"
    )


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


def model_for_sigma(sigma_255: float, folder: str | None = None) -> tuple[str, str | None]:
    """``(path, notice)``: the shipped model for a noise level the user gave (``--sigma 25``).

    The per-sigma model trained for exactly that level, else the blind model, else the nearest per-sigma
    model; ``notice`` (None for an exact match) says which was used instead.

    Raises:
        FileNotFoundError: no shipped model at all.
    """
    folder = folder or models_dir()
    models = shipped_models(folder)
    if sigma_255 in models:
        return models[sigma_255], None
    blind = os.path.join(folder, BLIND_MODEL)
    if os.path.exists(blind):
        trained = ", ".join(f"{s:g}" for s in models) or "none"
        return blind, f"no model trained for sigma {sigma_255:g}; using the blind model (per-sigma models: {trained})"
    return shipped_model_for_sigma(sigma_255, folder)


def parse_sigma_setting(value) -> float | None:
    """A ``--sigma`` setting: ``"auto"`` (any case, or None) -> None, else the level (0..255) checked:
    ``ValueError`` for anything else (``noise.check_sigma``)."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    return noise.check_sigma(value)


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """The model for an image and why: ``reason`` says which model in words (``"sigma-25 model"``, ``"blind model"``, the notice of an inexact
    match; None for a file the user named); ``notice`` is what to tell the user unasked (an inexact match),
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


def resolve_model(model_path: str | None = None, sigma_255=None, pixels=None, rule: str = AUTO_RULE,
                  folder: str | None = None) -> ModelChoice:
    """The model ``semdenoise denoise`` (and the web page, and the Beam pipeline) uses for an image.

    Args:
        model_path: a ``.keras`` file the user named: used as it is (``sigma_255`` then only describes
            the inputs).
        sigma_255: the noise level on the 0..255 scale that picks the shipped model (``model_for_sigma``),
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
        path, notice = model_for_sigma(level, folder)
        return ModelChoice(path, notice or f"sigma-{level:g} model", notice)
    if pixels is None:
        raise ValueError("sigma 'auto' needs the image to estimate its noise level from")
    estimate = noise.estimate_sigma(pixels)
    path, reason = choose_model_for_sigma(estimate, rule, folder)
    return ModelChoice(path, reason, estimate=estimate)


def export_shipped_model(model_dir: str, out_path: str, use_best: bool = True) -> str:
    """Writes a run's best (or final) weights as a standalone ``.keras`` model at ``out_path``; returns the
    weights file used. The file holds the network alone (uncompiled: no optimizer state), whichever weights
    it came from: ``best.weights.h5``, ``final.weights.h5`` or, for a run that never finished, the backup."""
    from keras_semdenoise.training import TrainConfig, build_model, make_optimizer

    with open(os.path.join(model_dir, "config.json")) as handle:
        config = TrainConfig.from_saved(json.load(handle))
    model = build_model(config)
    best = os.path.join(model_dir, "best.weights.h5")
    weights = best if use_best and os.path.exists(best) else os.path.join(model_dir, "final.weights.h5")
    if os.path.exists(weights):
        model.load_weights(weights)
    else:
        # The backup holds the optimizer's variables too: load it into a compiled copy, ship the network.
        weights = os.path.join(model_dir, "backup", "latest.weights.h5")
        trained = build_model(config)
        trained.compile(optimizer=make_optimizer(config), loss="mse")
        trained.optimizer.build(trained.trainable_variables)
        trained.load_weights(weights)
        model.set_weights(trained.get_weights())
    atomic.save_model(model, out_path)
    return weights


def data_description(data_dir: str) -> str:
    """``"CBSD432:0.71,T91:0.15"``-style short form of a ``data_dir`` spec (folder names and weights)."""
    from keras_semdenoise.data import patches

    parts = []
    for source in patches.parse_sources(data_dir) if data_dir else []:
        name = os.path.basename(source.path.rstrip("/")) or source.path
        if source.packed:  # the same images, packed to travel (tools/pack_images.py): "CBSD432 (packed)"
            name = f"{name.removesuffix('.npz')} (packed)"
        parts.append(name if source.weight == 1.0 else f"{name}:{source.weight:g}")
    return ",".join(parts)


def _train_seconds(history: list, step) -> float | None:
    timed = [h for h in history if h.get("step", 0) and (step is None or h["step"] <= step)]
    if not timed or any("train_seconds" not in h for h in timed):
        return None
    return round(sum(h["train_seconds"] for h in timed), 1)


def _eval_description(config: dict) -> str:
    from keras_semdenoise.training import describe_sigmas, evaluation_sigmas

    if config.get("eval_dir"):
        where = f"first {config.get('eval_images')} images of {os.path.basename(str(config['eval_dir']))}"
    else:
        where = f"{config.get('eval_images')} held-out CBSD432 validation images"
    return f"{where}, {describe_sigmas(evaluation_sigmas(config))}"


def run_record(model_dir: str) -> dict:
    """``{"config", "history"}`` of a run folder: what is kept of a run once its folder (scratch) is gone.

    Written beside a shipped model as ``<name>.history.json``, and for runs that only measure something
    (``tools/keep_runs.py``) under ``docs/training/``; ``learning_curves.load_curve`` reads either.
    """
    with open(os.path.join(model_dir, "config.json")) as handle:
        config = json.load(handle)
    history = []
    if os.path.exists(os.path.join(model_dir, "history.json")):
        with open(os.path.join(model_dir, "history.json")) as handle:
            history = json.load(handle)
    return {"config": config, "history": history}


def _kept_record(path: str) -> dict | None:
    """A kept ``{"config", "history", ...}`` record (``run_record``), or None (no file, or an early bare list)."""
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        kept = json.load(handle)
    return kept if isinstance(kept, dict) else None


def _same_run(kept: dict | None, record: dict) -> bool:
    """Whether a kept record is of the run of ``record`` (``run_record``): the same configuration and first history
    record (step 0 and its time)."""
    return (kept is not None and bool(record["history"]) and kept.get("config") == record["config"]
            and (kept.get("history") or [None])[0] == record["history"][0])


def _shipped_from(out_dir: str, entry: dict | None, record: dict) -> bool:
    """Whether a MODELS.json ``entry`` was shipped from the run of ``record`` (``run_record``)."""
    return bool(entry and entry.get("history")) and _same_run(
        _kept_record(os.path.join(out_dir, entry["history"])), record)


def _parent_name(config: dict) -> str:
    """The shipped model a run started from (``init_weights`` = ``.../<name>.keras``), or ``""``."""
    return os.path.splitext(os.path.basename(config.get("init_weights") or ""))[0]


def _run_name(record: dict) -> str:
    """The run folder's name of a kept record (``run_record``), e.g. ``sigma25_gpu1``."""
    return os.path.basename(os.path.normpath((record.get("config") or {}).get("model_dir") or ""))


def previous_record(out_dir: str, name: str, record: dict, archive_dir: str | None) -> str | None:
    """Where the record of the model a run started from is kept (``docs/training/<its run>.history.json``),
    copying it there from ``out_dir`` if it is not yet; ``None`` without ``archive_dir`` or when the run
    started from no shipped model. Shipping the same run again keeps the link it had."""
    kept = _kept_record(os.path.join(out_dir, f"{name}.history.json"))
    if _same_run(kept, record):
        return kept.get("previous")
    parent = _parent_name(record["config"])
    parent_path = os.path.join(out_dir, f"{parent}.history.json")
    parent_record = _kept_record(parent_path) if parent and archive_dir is not None else None
    if parent_record is None or not _run_name(parent_record):
        return None
    target = os.path.join(archive_dir, f"{_run_name(parent_record)}.history.json")
    if not os.path.exists(target):
        atomic.copy_file(parent_path, target)
    return target


def ship_run(model_dir: str, out_dir: str, name: str, hardware: str, use_best: bool = True,
             archive_dir: str | None = None) -> dict:
    """Ships a run as ``out_dir/<name>.keras`` and records it in ``out_dir/MODELS.json``.

    The run's configuration and learning curve are kept beside the model as
    ``<name>.history.json`` (run folders are scratch; the curve is the record of
    how the model was made). A run started from another shipped model
    (``init_weights`` naming ``<other>.keras`` in ``out_dir``) counts that
    model's steps too: ``steps_trained`` is the total, ``steps_this_run`` this run's. Shipping the same run
    again (over its own parent's name too) records the same totals. With ``archive_dir``, that model's record
    is kept there (``previous_record``) and named in this one's ``"previous"``: a shipped model's records,
    followed back, are its whole training (``learning_curves.lineage``).

    Returns:
        The ``MODELS.json`` entry written.
    """
    os.makedirs(out_dir, exist_ok=True)
    out_path = os.path.join(out_dir, f"{name}.keras")
    record = run_record(model_dir)
    previous = previous_record(out_dir, name, record, archive_dir)
    weights = export_shipped_model(model_dir, out_path, use_best=use_best)
    config, history = record["config"], record["history"]
    best = runs.best_record(history, "eval_psnr")
    shipped_best = best is not None and os.path.basename(weights).startswith("best")
    step = best["step"] if shipped_best else (history[-1]["step"] if history else None)
    index_path = os.path.join(out_dir, "MODELS.json")
    index = {}
    if os.path.exists(index_path):
        with open(index_path) as handle:
            index = json.load(handle)
    parent = _parent_name(config)
    steps_before = (index[parent].get("steps_trained") or 0) if parent in index else 0
    if parent == name and _shipped_from(out_dir, index.get(name), record):
        # This run was shipped over its own parent before (shipped again, e.g. another checkpoint): the parent's
        # steps are those before that shipping, not the total it recorded.
        steps_before -= index[name].get("steps_this_run") or 0
    resolved = config.get("resolved") or {}
    entry = {
        "file": os.path.basename(out_path),
        "architecture": config.get("architecture") or "multiscale",
        "sigma": config.get("sigma"),
        "sigma_range": config.get("sigma_range"),
        "steps_trained": (step or 0) + steps_before,
        "steps_this_run": step,
        # The parent as it was when this run started from it (it may be this very name, shipped again).
        "init_from": (f"{parent} (its {steps_before:,}-step version)" if parent in index
                      else config.get("init_weights")),
        "batch_size": config.get("batch_size"),
        "patch_size": config.get("patch_size"),
        "learning_rate": config.get("learning_rate"),
        "eval_psnr_db": best["eval_psnr"] if best else None,
        "eval": _eval_description(config),
        "hardware": hardware,
        "precision": resolved.get("dtype_policy", "float32"),
        "data": data_description(config.get("data_dir") or ""),
        # Wall time of the epochs up to the shipped one (training + evaluation; None for runs before it was logged).
        "train_seconds": _train_seconds(history, step),
        "history": f"{name}.history.json",
    }
    index[name] = entry
    if previous:
        record = {**record, "previous": previous}
    atomic.write_json(os.path.join(out_dir, entry["history"]), record, indent=2)
    atomic.write_json(index_path, index, indent=2)
    return entry
