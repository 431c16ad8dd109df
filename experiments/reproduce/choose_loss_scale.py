"""Chooses the joint-training loss scale per task from validation runs (``experiments/reproduce/loss_scale.py``).

    python -m experiments.reproduce.choose_loss_scale --runs=runs/reproduce/loss_scale/cls_paper,... \
        --out=experiments/reproduce/results_reduced

Writes loss_scale.md (the table of every checkpoint), loss_scale.png (the curves) and loss_scale.json (the
choice, read by ``train/train_joint.py --loss_scale_file``). Every flag is a field of ``LossScaleChoiceConfig``.
"""

from __future__ import annotations

from absl import app

from experiments.reproduce import loss_scale
from keras_semdenoise.config_flags import define_flags, entry_point

define_flags(loss_scale.LossScaleChoiceConfig)
main = entry_point(loss_scale.LossScaleChoiceConfig, loss_scale.choose_loss_scale)

if __name__ == "__main__":
    app.run(main)
