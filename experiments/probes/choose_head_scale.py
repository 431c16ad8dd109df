"""Choose a trained segmentation head's input scale on a validation split, then measure the test split once.

    python -m experiments.probes.choose_head_scale --data ../shared/data/camvid --num_classes 11 --ignore_index 11 \
        --head runs/head_seg_scale2/head.keras --scales 1,1.25,1.5,1.75,2 --val_split val --eval_split test \
        --out runs/head_seg_input_scale

Writes ``scales.json`` (resumable), ``scales.md``, ``head.keras`` (the head at the chosen scale: ship that
file) and ``eval.json``. Every flag is a field of ``heads.input_scale.HeadScaleConfig`` (defaults and help
there).
"""

from __future__ import annotations

from absl import app, flags

from experiments.probes import head_scale as input_scale
from keras_semdenoise.config_flags import define_flags, entry_point

FLAGS = flags.FLAGS
define_flags(input_scale.HeadScaleConfig)


def _report(state: dict) -> None:
    print(input_scale.scales_markdown(state), end="")


main = entry_point(
    input_scale.HeadScaleConfig,
    lambda config: _report(input_scale.choose_input_scale(config)),
    lambda: {"eval_split": FLAGS.eval_split or None},
)

if __name__ == "__main__":
    app.run(main)
