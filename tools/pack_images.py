"""Pack an image folder into one ``.npz`` of the files' bytes, for training where the folder cannot travel.

    python -m tools.pack_images --data ../shared/data/CBSD432 --out .gpu/CBSD432.npz
    python -m train.train_denoiser --data_dir packed:.gpu/CBSD432.npz ...

The pack is checked to decode to the same pixels as the folder before the tool reports it.
"""

from __future__ import annotations

import numpy as np
from absl import app, flags

from keras_semdenoise.data import patches

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "Image folder.", required=True)
flags.DEFINE_string("out", None, "Output .npz file.", required=True)


def main(argv):
    del argv
    summary = patches.pack_image_folder(FLAGS.data, FLAGS.out)
    folder = patches.read_source(patches.Source(FLAGS.data))
    packed = patches.read_source(patches.Source(patches.PACKED_PREFIX + FLAGS.out))
    if [n for n, _ in folder] != [n for n, _ in packed] or not all(
        np.array_equal(a, b) for (_, a), (_, b) in zip(folder, packed)
    ):
        raise SystemExit(f"{FLAGS.out} does not decode to the pixels of {FLAGS.data}")
    print(
        f"packed {summary['images']} images of {FLAGS.data} into {FLAGS.out} "
        f"({summary['bytes'] / 2**20:.1f} MiB); pixels checked"
    )


if __name__ == "__main__":
    app.run(main)
