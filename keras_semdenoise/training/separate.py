"""Separate (MSE) training of the denoiser: one config dataclass, one ``run_training``.

``train/train_denoiser.py`` fills ``TrainConfig`` from absl flags and calls
``run_training``. A run lives in ``config.model_dir``:

- ``backup/``        the resumable state (weights + optimizer + epoch), written atomically
- ``logs/``          TensorBoard scalars and image triplets (noisy | denoised | clean)
- ``history.json``   evaluation PSNR per checkpoint (the learning curve)
- ``best.weights.h5`` weights of the checkpoint with the best evaluation PSNR
- ``final.keras`` / ``final.weights.h5``  the model at the end
- ``config.json``    the configuration of the run

Training is organised in "epochs" of ``checkpoint_every`` steps; a run killed at
any point restarts from the last completed epoch (``runs``: the plumbing every run shares).
``ship.ship_run`` turns a finished run into a shipped model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os

import numpy as np

from keras_semdenoise import atomic, metrics, noise
from keras_semdenoise.config_flags import check_choices, setting
from keras_semdenoise.data import patches
from keras_semdenoise.deploy import precision
from keras_semdenoise.training import runs, separate_fit

logger = logging.getLogger(__name__)


# The networks ``--architecture`` trains, with the names tables give them.
ARCHITECTURES = {"multiscale": "ours (multi-scale)", "dncnn": "DnCNN", "ffdnet": "FFDNet-style"}


@dataclasses.dataclass
class TrainConfig:
    """Everything a separate-training run needs. Sigmas are on the 0..255 scale.

    ``data_dir`` is one folder or several with sampling weights, ``"DIR[:W],DIR[:W]"``
    (``patches.parse_sources``; ``packed:FILE.npz`` too). With ``holdout`` the 16 validation
    images (``patches.VALIDATION_IDS``) are left out of training and, unless ``eval_dir`` names
    another folder, are the images each checkpoint is evaluated and chosen on.
    """

    data_dir: str = setting(
        help="Training images: DIR[:WEIGHT],DIR[:WEIGHT],... (folders, packed:FILE.npz or "
        "tfds:DATA_DIR of a prepared data.tfds_folder dataset)."
    )
    model_dir: str = setting(help="Run folder: checkpoints, logs, final model.")
    sigma: float | None = setting(
        noise.DEFAULT_SIGMA_255, "Noise level on the 0..255 scale (one model per sigma; not used with --sigma_range)."
    )
    sigma_range: tuple[float, float] | None = setting(None, "low,high: blind training, sigma drawn per patch.")
    sigma_weighting: str = setting(
        "none",
        "Blind training's loss per patch: none (plain MSE, ruled by the noisiest "
        "patches) or inverse (weighted by 1 / (sigma + 5), mean 1: about equal "
        "weight for every level's PSNR; noise.sigma_loss_weights).",
        choices=noise.SIGMA_WEIGHTINGS,
    )
    steps: int = setting(1000, "Training steps (batches).")
    batch_size: int = setting(32, "Global batch size (paper: 32).")
    patch_size: int = setting(48, "Patch side in pixels (paper: 48).")
    learning_rate: float = setting(1e-3, "Peak Adam learning rate.")
    lr_schedule: str = setting("cosine", "Learning-rate schedule.", choices=("cosine", "step", "constant"))
    warmup_steps: int = setting(100, "Linear warm-up steps (cosine schedule).")
    min_lr_ratio: float = setting(0.01, "Final learning rate as a fraction of the peak (cosine).")
    checkpoint_every: int = setting(200, "Steps between checkpoints (and evaluations).")
    eval_dir: str | None = setting(
        None,
        "Clean images for PSNR at each checkpoint (default: the held-out validation "
        "images of the training data; never a test set).",
    )
    eval_images: int = setting(16, "How many eval images (0: no evaluation).")
    eval_sigma: float | None = setting(
        None, f"Noise level for evaluation (default: --sigma, or {noise.DEFAULT_SIGMA_255:g})."
    )
    eval_sigmas: tuple[float, ...] = setting(
        (),
        "Several noise levels for evaluation instead of eval_sigma: a "
        "checkpoint's score is their mean PSNR (a blind model, e.g. 15,25,50).",
    )
    holdout: bool = setting(True, "Leave the 16 validation images (data/patches.VALIDATION_IDS) out of training.")
    dtype_policy: str = setting(
        "auto",
        "Compute precision; auto: mixed_bfloat16 where the CPU/GPU has native bf16.",
        choices=("auto", *precision.POLICIES),
    )
    pipeline: str = setting(
        "auto",
        "Data path; auto: tf.data on the TensorFlow backend, numpy PyDataset on others.",
        choices=("auto", "tf_data", "numpy"),
    )
    data_workers: int = setting(
        1,
        "Threads drawing batches on the numpy data path (a batch of 64 x 96x96 takes one "
        "core about 30-40 ms; numpy's noise draw runs outside the GIL).",
    )
    strategy: str = setting("auto", "tf.distribute strategy.", choices=("auto", "mirrored", "default"))
    logical_cpus: int = setting(0, "Split the CPU into N logical devices (tests the mirrored path).")
    architecture: str = setting(
        "multiscale",
        "Network: multiscale (the paper's), or a peer of Tables II/III: dncnn "
        "(colour DnCNN), ffdnet (FFDNet-style; needs --sigma). See keras_semdenoise/models/peers.py.",
        choices=tuple(ARCHITECTURES),
    )
    num_scales: int = setting(3, "Scales of the denoiser, 2..4.")
    stem_filters: int = setting(64, "conv0 width.")
    encoder_filters: tuple[int, ...] = setting((128, 128), "Encoder widths (num_scales - 1).")
    decoder_filters: tuple[int, ...] = setting((256,), "Decoder widths (num_scales - 2).")
    global_skip: bool = setting(True, "Add the input to the output (residual learning; Table I ablation).")
    init_weights: str | None = setting(None, "Start from these weights (e.g. another sigma's model).")
    frozen_batch_norm: bool = setting(
        False,
        "Fine-tune with every batch norm in inference mode (its moving statistics, "
        "gamma and beta kept; needs --init_weights): no shift of the statistics "
        "toward those of the training patches (denoiser.freeze_batch_norm).",
    )
    seed: int | None = setting(None, "Random seed.")
    verbose: int = setting(1, "Keras fit verbosity: 1 progress bar, 2 one line per checkpoint.")

    def validate(self) -> None:
        if (self.sigma is None) == (self.sigma_range is None):
            raise ValueError("give exactly one of sigma and sigma_range")
        noise.check_sigma_weighting(self.sigma_weighting, self.sigma_range)
        for level in (self.sigma, *self.eval_sigmas):
            if level is not None:
                noise.check_sigma(level)
        if self.steps < 1 or self.checkpoint_every < 1 or self.batch_size < 1 or self.patch_size < 4:
            raise ValueError("steps, checkpoint_every, batch_size must be >= 1 and patch_size >= 4")
        if self.frozen_batch_norm and not self.init_weights:
            raise ValueError("frozen_batch_norm needs init_weights: freshly built batch norm has no statistics to keep")
        if self.data_workers < 1:
            raise ValueError(f"data_workers must be >= 1, not {self.data_workers}")
        check_choices(self)
        if self.architecture == "ffdnet" and self.sigma is None:
            raise ValueError("ffdnet needs --sigma: its noise-level map is fixed per model (no blind training)")
        patches.check_sources(self.sources())

    def sources(self) -> list:
        """The training sources with their sampling weights (``patches.Source``)."""
        return patches.parse_sources(self.data_dir)

    def resolved_pipeline(self) -> str:
        import keras

        tf_backend = keras.backend.backend() == "tensorflow"
        if self.pipeline == "tf_data" and not tf_backend:
            raise ValueError(f"pipeline tf_data needs the TensorFlow backend, not {keras.backend.backend()}")
        return ("tf_data" if tf_backend else "numpy") if self.pipeline == "auto" else self.pipeline

    @property
    def epochs(self) -> int:
        return math.ceil(self.steps / self.checkpoint_every)

    def model_kwargs(self) -> dict:
        """The ``build_denoiser`` arguments this run fixes (its architecture: a run folder keeps one)."""
        return dict(
            num_scales=self.num_scales,
            stem_filters=self.stem_filters,
            encoder_filters=tuple(self.encoder_filters),
            decoder_filters=tuple(self.decoder_filters),
            global_skip=self.global_skip,
        )

    def architecture_fields(self) -> dict:
        """The fields that fix the network (a run folder keeps one), with their values."""
        fields = {"architecture": self.architecture}
        if self.architecture == "multiscale":
            fields.update(self.model_kwargs())
        elif self.architecture == "ffdnet":
            fields["sigma"] = self.sigma
        return fields

    @classmethod
    def from_saved(cls, saved: dict) -> TrainConfig:
        """The config a run folder's ``config.json`` holds; fields it predates take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})


def build_model(config: TrainConfig, dtype_policy: str | None = None):
    """The untrained network ``config`` names (``architecture`` and its fields), a ``keras.Model`` mapping
    ``(N, H, W, 3)`` noisy images in [0, 1] to ``(N, H, W, 3)`` estimates."""
    if config.architecture == "dncnn":
        from keras_semdenoise.models.peers import DnCNN

        return DnCNN(dtype_policy=dtype_policy)
    if config.architecture == "ffdnet":
        from keras_semdenoise.models.peers import FFDNetStyle

        return FFDNetStyle(noise_level_255=config.sigma, dtype_policy=dtype_policy)
    from keras_semdenoise.models.denoiser import build_denoiser

    return build_denoiser(**config.model_kwargs(), dtype_policy=dtype_policy)


def run_training(config: TrainConfig):
    """Trains (or resumes) a denoiser with MSE on noisy patches; returns the trained model."""
    config.validate()
    import keras

    from keras_semdenoise.data import images

    resume_epoch = runs.resume_epoch(config.model_dir)
    if config.seed is not None:
        # A resumed run must not replay the patches it already saw: offset the seed by the epoch.
        keras.utils.set_random_seed(config.seed + 1000 * resume_epoch)
    pipeline = config.resolved_pipeline()
    policy = precision.resolve_policy(config.dtype_policy)
    tf_backend = keras.backend.backend() == "tensorflow"
    strategy = runs.backend_strategy(config.strategy, config.logical_cpus)
    os.makedirs(config.model_dir, exist_ok=True)
    config_path = os.path.join(config.model_dir, "config.json")
    previous = None
    if os.path.exists(config_path):
        with open(config_path) as handle:
            previous = json.load(handle)
    current = json.loads(json.dumps(dataclasses.asdict(config)))
    if previous:
        before = json.loads(json.dumps(TrainConfig.from_saved(previous).architecture_fields()))
        after = json.loads(json.dumps(config.architecture_fields()))
        changed = [k for k in after if before.get(k) != after[k]]
        if changed:
            raise ValueError(f"{config.model_dir} holds a run with other {changed}; use a new model_dir")
    current["resolved"] = {"dtype_policy": policy, "pipeline": pipeline, "backend": keras.backend.backend()}
    atomic.write_json(config_path, current, indent=2)

    sources = config.sources()
    # What both data paths take: patches, noise levels, the held-out validation images, the level weighting.
    patch_options = dict(
        patch_size=config.patch_size,
        batch_size=config.batch_size,
        sigma_255=config.sigma,
        sigma_range_255=tuple(config.sigma_range) if config.sigma_range else None,
        holdout=config.holdout,
        sigma_weighting=config.sigma_weighting,
    )
    if pipeline == "tf_data":
        shuffle_seed = None if config.seed is None else config.seed + resume_epoch
        dataset = images.training_dataset(sources, shuffle_seed=shuffle_seed, **patch_options)
        triplet_batch = tuple(np.asarray(t)[:4] for t in next(iter(dataset))[:2])
    else:
        seed = int(np.random.SeedSequence().entropy % 2**31) if config.seed is None else config.seed + resume_epoch
        steps, workers = config.checkpoint_every, config.data_workers
        dataset = patches.PatchDataset(sources, steps_per_epoch=steps, seed=seed, workers=workers, **patch_options)
        triplet_batch = tuple(t[:4] for t in dataset[0][:2])
    if config.eval_dir:
        eval_images = images.evaluation_images(config.eval_dir, config.eval_images)
    elif config.holdout and config.eval_images:
        eval_images = patches.validation_images(sources, config.eval_images)
        if not eval_images:
            logger.warning(
                "no validation image (%s) in %s: no evaluation",
                ", ".join(patches.VALIDATION_IDS[:3]) + ", ...",
                config.data_dir,
            )
    else:
        eval_images = []

    with runs.strategy_scope(strategy):
        model = build_model(config, dtype_policy=policy)
        if config.init_weights:
            model.load_weights(config.init_weights)
            logger.info("initialised from %s", config.init_weights)
        if config.frozen_batch_norm:
            from keras_semdenoise.models.denoiser import freeze_batch_norm

            logger.info("%d batch norm layers frozen (inference mode)", freeze_batch_norm(model))
        model.compile(
            optimizer=separate_fit.make_optimizer(config),
            loss="mse",
            metrics=[metrics.psnr_float],
            jit_compile=False if tf_backend else "auto",
        )
    logger.info(
        "backend %s, %s, %s pipeline, %s",
        keras.backend.backend(),
        policy,
        pipeline,
        f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)" if strategy else "no strategy",
    )
    fit_kwargs = {"steps_per_epoch": config.checkpoint_every} if pipeline == "tf_data" else {}
    model.fit(
        dataset,
        epochs=config.epochs,
        callbacks=separate_fit.callbacks(config, model, eval_images, triplet_batch),
        verbose=config.verbose,
        **fit_kwargs,
    )
    atomic.save_model(model, os.path.join(config.model_dir, "final.keras"))
    atomic.save_weights(model, os.path.join(config.model_dir, "final.weights.h5"))
    return model
