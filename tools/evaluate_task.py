"""The paper's Tables IV/V for any head and data set: task accuracy on noisy inputs per setting.

    python -m tools.evaluate_task --task classification --data ../shared/data/cifar10-jpeg \
        --head saved_models/head_cifar10.keras --crop_size 32 --sigmas 15,30,45,60 \
        --separate 'saved_models/denoiser_sigma{sigma}.keras' \
        --joint 'runs/joint_cls_s{sigma}/denoiser.keras' --cross 'runs/joint_seg_s{sigma}/denoiser.keras' \
        --out docs/task_cls

Settings: noisy (head on the noisy input), cbm3d, separate, joint, cross (a denoiser jointly
trained with the *other* task). ``{sigma}`` in a path is replaced per sigma; a missing file leaves
the cell empty. Also reports the PSNR of each setting's head input. Writes results.json
(resumable: cells already measured are kept), each cell's per-image records in records/, and
results.md: the table and the differences between settings with 95% bootstrap intervals over images
(``--bootstrap_resamples``). CBM3D estimates are kept per image in ``--cbm3d_cache`` (default
<out>/cbm3d_cache; point several evaluations at one folder to share them) and computed by
``--workers`` processes, e.g. ``--workers=16`` on a 16-core machine for the whole CIFAR-10 test set.

Every flag is a field of ``evaluation.tasks.TaskEvaluationConfig`` (its default and help are written there).
"""

from __future__ import annotations

from absl import app, flags

from keras_semdenoise.config_flags import config_from_flags, define_flags
from keras_semdenoise.evaluation import task_scores

FLAGS = flags.FLAGS
define_flags(task_scores.TaskEvaluationConfig)


def main(argv):
    del argv
    try:
        config = config_from_flags(task_scores.TaskEvaluationConfig, FLAGS)
        split, head = task_scores.open_evaluation(config)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    state = task_scores.evaluate_cells(config, split, head)
    print(task_scores.results_markdown(state, config))


if __name__ == "__main__":
    app.run(main)
