"""What the reproduction pipeline does: one dataclass, the one place of every setting, its default and help.

The defaults are the CPU-scale (reduced-width) run reported in ``docs/RESULTS_reduced.md``; the run with the shipped
full-size denoiser, reported in ``docs/RESULTS.md`` (with the reduced report as its appendix), is
``experiments/reproduce/full_scale.flags``. ``python -m experiments.reproduce`` has one flag per field
(``config_flags.define_flags``).
"""

from __future__ import annotations

import dataclasses
import os

from keras_semdenoise.config_flags import check_choices, setting
from keras_semdenoise.deploy.precision import POLICIES
from keras_semdenoise.task_kinds import CLASSIFICATION, SHORT, check_task
from keras_semdenoise.training.head_training import LR_SCHEDULES
from keras_semdenoise.training.losses import LOSS_SCALES


def per_task(task: str, classification, segmentation):
    """The classification or the segmentation setting, whichever ``task`` is (``check_task``'s error otherwise):
    ``per_task(task, config.cls_crop, config.seg_crop)``."""
    return classification if check_task(task) == CLASSIFICATION.name else segmentation


@dataclasses.dataclass
class ReproduceConfig:
    """Everything the pipeline does; the defaults are the CPU-scale run reported in RESULTS_reduced.md.

    The heads are the VGG16 / DeepLab-LargeFOV layer patterns at reduced widths. The shipped heads were
    trained with these settings on a lent GPU (Keras on JAX, data packed by tools/pack_task_data.py); on a
    CPU the same stages take hours.
    """

    data_root: str = setting(
        help="Folder holding the data sets the *_data settings name (relative names are under it)."
    )
    work_dir: str = setting("runs/reproduce", "Training runs (resumable checkpoints) and the stage logs.")
    models_dir: str = setting(
        "experiments/reproduce/models_reduced",
        "Where the trained heads and denoisers are shipped; the evaluation reads them from here.",
    )
    heads_dir: str = setting(
        "",
        "Where the heads are shipped and read, if not models_dir (a run of other "
        "denoisers can reuse shipped heads: existing head files are not retrained).",
    )
    cls_head: str = setting(
        "",
        "Classification head file, if not head_cls.keras in heads_dir (or models_dir): "
        "a head of this run only (an existing file is not retrained).",
    )
    seg_head: str = setting(
        "",
        "Segmentation head file, if not head_seg.keras in heads_dir (or models_dir): "
        "a head of this run only (an existing file is not retrained).",
    )
    docs_dir: str = setting("experiments/reproduce/results_reduced", "Measured tables, plots and example figures.")
    results_path: str = setting("docs/RESULTS_reduced.md", "The report.")
    appendix: str = setting(
        "",
        "Another run's report (say the reduced-width one) appended to this one as an "
        "appendix, its headings one level down and its links re-pointed.",
    )
    sigmas: tuple[float, ...] = setting(
        (15.0, 30.0, 45.0, 60.0), "Noise levels (0..255 scale): one separate and one joint denoiser per task each."
    )
    cls_data: str = setting("cifar10-jpeg", "Classification data (class folders), under data_root unless absolute.")
    seg_data: str = setting("camvid", "Segmentation data (CamVid layout), under data_root unless absolute.")
    seg_num_classes: int = setting(11, "Segmentation classes.")
    seg_ignore_index: int = setting(11, "Segmentation void label.")
    cls_width_divisor: int = setting(2, "Classification head: VGG16 widths divided by this.")
    seg_width_divisor: int = setting(4, "Segmentation head: DeepLab-LargeFOV widths divided by this.")
    head_batch_norm: bool = setting(
        True, "Batch norm after each head conv (from scratch, plain VGG16 without BN trains poorly)."
    )
    cls_hidden_units: int = setting(512, "Classification head: hidden dense width.")
    seg_fc_units: int = setting(256, "Segmentation head: fc6/fc7 width.")
    cls_head_steps: int = setting(20000, "Classification head training steps.")
    seg_head_steps: int = setting(6000, "Segmentation head training steps.")
    cls_head_batch: int = setting(128, "Classification head batch size.")
    seg_head_batch: int = setting(16, "Segmentation head batch size.")
    seg_head_crop: int = setting(320, "Segmentation head training crop.")
    head_learning_rate: float = setting(1e-3, "Heads' peak Adam learning rate.")
    head_lr_schedule: str = setting(
        "cosine", "Heads' learning-rate schedule: cosine (the shipped heads) or poly (DeepLab's).", choices=LR_SCHEDULES
    )
    head_validation: bool = setting(
        False,
        "Choose each head's checkpoint on the task's validation split "
        "(cls_val_split / seg_val_split, the classification head then trains on "
        "cls_train_split) instead of keeping the last (the shipped heads).",
    )
    cls_crop: int = setting(32, "Classification input size (head training, joint training, evaluation).")
    seg_crop: int = setting(160, "Segmentation joint-training crop.")
    cls_batch: int = setting(64, "Classification joint-training (and evaluation) batch size.")
    seg_batch: int = setting(8, "Segmentation joint-training batch size.")
    denoiser_data: str = setting("CBSD432", "Separate denoiser training images, under data_root unless absolute.")
    stem_filters: int = setting(32, "Denoiser conv0 width (one reduced-width architecture for every setting).")
    encoder_filters: tuple[int, ...] = setting((64, 64), "Denoiser encoder widths.")
    decoder_filters: tuple[int, ...] = setting((128,), "Denoiser decoder widths.")
    separate_init: str = setting(
        "",
        "Fine-tune each separate denoiser from the shipped per-sigma model nearest "
        "its sigma in this folder (e.g. saved_models; the widths must then be the "
        "shipped architecture's) instead of training it from scratch ('').",
    )
    separate_learning_rate: float = setting(1e-3, "Separate denoisers' peak Adam learning rate.")
    separate_steps: int = setting(
        750, "Separate denoiser training steps (whole checkpoint intervals: rounded up to them)."
    )
    separate_batch: int = setting(32, "Separate denoiser batch size.")
    separate_patch: int = setting(48, "Separate denoiser patch side.")
    separate_eval_images: int = setting(6, "Held-out images the separate runs are evaluated on per checkpoint.")
    joint_steps: int = setting(120, "Joint training steps (from the separate denoiser).")
    joint_learning_rate: float = setting(1e-4, "Joint training Adam learning rate.")
    joint_validations: int = setting(
        6,
        "Validated checkpoints per joint (and loss-scale) run: steps / this apart; the best by validation is shipped.",
    )
    cls_train_split: str = setting(
        "train[:-5000]", "Classification joint-training split (tfds-style slice of the fixed order: data/splits.py)."
    )
    cls_val_split: str = setting(
        "train[-5000:]",
        "Classification validation split (CIFAR-10 has no other; the test split is for the tables only).",
    )
    seg_train_split: str = setting("train", "Segmentation joint-training split.")
    seg_val_split: str = setting("val", "Segmentation validation split (CamVid val).")
    cls_val_images: int = setting(500, "Classification validation images per checkpoint (0: the whole split).")
    seg_val_images: int = setting(
        32, "Segmentation validation frames per checkpoint (whole frames; 0: the whole split)."
    )
    loss_scale: str = setting(
        "choose",
        "Joint loss scale: choose (the one with the better validation metric in "
        "short runs of each, experiments/reproduce/loss_scale.py), or paper / official "
        "for both tasks.",
        choices=("choose", *LOSS_SCALES),
    )
    loss_scale_sigma: float | None = setting(None, "Sigma of the loss-scale runs (default: the largest of sigmas).")
    loss_scale_steps: int = setting(0, "Steps of each loss-scale run (0: joint_steps, the runs it chooses for).")
    cls_eval_images: int = setting(1000, "Classification test images per table cell (0: the whole test split).")
    seg_eval_images: int = setting(
        16, "Segmentation test frames per table cell (0: the whole test split; CBM3D is the slow part)."
    )
    eval_workers: int = setting(
        1,
        "Processes computing CBM3D in the evaluation (its estimates are cached in "
        "<work_dir>/cbm3d_cache for every later table).",
    )
    cls_eval_part_images: int = setting(
        1024,
        "Classification test images a table cell is measured in at a time; "
        "its records so far are kept in docs_dir after each part, so a cell resumes "
        "from its last part in a later session (CBM3D: ~1 s an image here).",
    )
    seg_eval_part_images: int = setting(
        16, "Segmentation test frames a table cell is measured in at a time (as cls_eval_part_images)."
    )
    checkpoint_every: int = setting(
        250, "Steps between resumable checkpoints of the head and separate stages (joint runs: joint_validations)."
    )
    seed: int = setting(0, "Random seed of every training stage.")
    dtype_policy: str = setting(
        "auto",
        "Training precision of every training stage (heads, separate, joint); "
        "auto: mixed_bfloat16 where the CPU/GPU has native bf16. The shipped "
        "reduced-width results ran in float32.",
        choices=("auto", *POLICIES),
    )

    def __post_init__(self):
        self.sigmas = tuple(float(s) for s in self.sigmas)
        self.encoder_filters = tuple(int(f) for f in self.encoder_filters)
        self.decoder_filters = tuple(int(f) for f in self.decoder_filters)
        if not self.sigmas or any(not 0 < s <= 255 for s in self.sigmas):
            raise ValueError(f"sigmas must be in (0, 255], got {self.sigmas}")
        if self.loss_scale_sigma is not None and float(self.loss_scale_sigma) not in self.sigmas:
            raise ValueError(
                f"loss_scale_sigma must be one of sigmas {self.sigmas} (the loss-scale runs start from "
                f"that sigma's separate denoiser), got {self.loss_scale_sigma}"
            )
        if self.joint_validations < 1:
            raise ValueError(f"joint_validations must be at least 1, got {self.joint_validations}")
        if self.separate_init:
            self._check_separate_init()
        check_choices(self)

    def _check_separate_init(self):
        from keras_semdenoise.models import shipped
        from keras_semdenoise.models.denoiser import (
            DEFAULT_DECODER_FILTERS,
            DEFAULT_ENCODER_FILTERS,
            DEFAULT_STEM_FILTERS,
        )

        if not shipped.shipped_models(self.separate_init):
            raise ValueError(
                f"separate_init: no shipped per-sigma denoiser (denoiser_sigma<S>.keras) in {self.separate_init}"
            )
        shipped = (DEFAULT_STEM_FILTERS, DEFAULT_ENCODER_FILTERS, DEFAULT_DECODER_FILTERS)
        if (self.stem_filters, self.encoder_filters, self.decoder_filters) != shipped:
            raise ValueError(
                f"separate_init fine-tunes the shipped denoisers, so the widths must be theirs: "
                f"stem_filters={shipped[0]}, encoder_filters={','.join(map(str, shipped[1]))}, "
                f"decoder_filters={','.join(map(str, shipped[2]))}"
            )

    def _under_root(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(self.data_root, name)

    def data(self, task: str) -> str:
        return self._under_root(per_task(task, self.cls_data, self.seg_data))

    def denoiser_data_dir(self) -> str:
        return self._under_root(self.denoiser_data)

    def eval_batches(self, task: str) -> tuple[int, int]:
        """Evaluation ``(batch size, batches)``; 0 batches: the whole split. CamVid frames go one by one
        (any size)."""
        batch = per_task(task, self.cls_batch, 1)
        images = per_task(task, self.cls_eval_images, self.seg_eval_images)
        return batch, (-(-images // batch) if images else 0)

    def head_path(self, task: str) -> str:
        return per_task(task, self.cls_head, self.seg_head) or os.path.join(
            self.heads_dir or self.models_dir, f"head_{SHORT[task]}.keras"
        )

    def head_of_another_run(self, task: str) -> bool:
        """Whether the head is read from a place of its own (``heads_dir`` or ``cls_head`` / ``seg_head``), shipped
        there by another run or by hand, rather than trained into ``models_dir`` by this one."""
        return bool(self.heads_dir or per_task(task, self.cls_head, self.seg_head))

    def head_clean_path(self, task: str) -> str:
        """The head's clean test result (its run's ``eval.json``), kept beside the shipped head so that a run
        reusing the heads (``heads_dir``) reports them too."""
        return os.path.splitext(self.head_path(task))[0] + ".clean.json"

    def denoiser_path(self, kind: str, sigma) -> str:
        """Shipped denoiser: kind is 'separate', 'joint_cls' or 'joint_seg'; sigma may be '{sigma}'."""
        sigma_text = sigma if isinstance(sigma, str) else f"{sigma:g}"
        return os.path.join(self.models_dir, f"{kind}_s{sigma_text}.keras")

    def kept_history(self, stage_name: str) -> str:
        """Where a training stage's ``history.json`` is kept once the stage is done (run folders are scratch,
        and a full-size run spans sessions): ``docs_dir/histories/<stage>.history.json``."""
        return os.path.join(self.docs_dir, "histories", f"{stage_name}.history.json")

    def eval_dir(self, task: str) -> str:
        return os.path.join(self.docs_dir, task)

    def study_sigma(self) -> float:
        """The sigma the loss scale is chosen at."""
        return float(self.loss_scale_sigma) if self.loss_scale_sigma is not None else max(self.sigmas)

    def study_steps(self) -> int:
        return self.loss_scale_steps or self.joint_steps

    def loss_scale_path(self) -> str:
        """The choice of the loss-scale stage (``experiments/reproduce/loss_scale.py``), read by the joint stages."""
        return os.path.join(self.docs_dir, "loss_scale.json")

    def joint_checkpoint_every(self, steps: int) -> int:
        """Steps between the validated checkpoints of a joint run of ``steps`` steps."""
        return max(1, -(-steps // self.joint_validations))
