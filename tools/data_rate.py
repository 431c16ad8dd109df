"""Batches per second of the numpy training data path (``patches.PatchDataset``), by number of drawing threads.

    python -m tools.data_rate --data_dir ../shared/data/CBSD432 --batch_size 64 --patch_size 96 --workers 1,2,3

On the GPU machine it tells whether the batches can keep up with the device: a process whose data path draws
fewer batches a second than its device steps take is fed by the CPU, not the GPU. Threads draw the batches
in order as Keras's ``PyDataset`` does with ``workers`` > 1 (``patches.draw_rates``). Needs no TensorFlow.
Prints one line per thread count; ``--rate_out`` also writes them, with the machine, as JSON.
"""

from __future__ import annotations

import os
import platform

from absl import app, flags

from keras_semdenoise import atomic
from keras_semdenoise.data import patches

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "data_dir", None, "Training images: folder(s) or packed:<file.npz>, as train_denoiser's.", required=True
)
flags.DEFINE_integer("batch_size", 64, "Patches per batch.")
flags.DEFINE_integer("patch_size", 96, "Patch side in pixels.")
flags.DEFINE_list("workers", ["1", "2", "3"], "Thread counts to measure.")
flags.DEFINE_integer("batches", 40, "Batches drawn per pass (after one untimed batch).")
flags.DEFINE_integer("passes", 3, "Timed passes per thread count; the median is reported.")
flags.DEFINE_string("rate_out", None, "JSON output (default: none).")


def main(argv):
    del argv
    try:
        dataset = patches.PatchDataset(
            patches.parse_sources(FLAGS.data_dir),
            patch_size=FLAGS.patch_size,
            batch_size=FLAGS.batch_size,
            sigma_range_255=(0.0, 75.0),
            steps_per_epoch=FLAGS.batches,
            seed=0,
            sigma_weighting="inverse",
        )
        rates = patches.draw_rates(dataset, [int(w) for w in FLAGS.workers], FLAGS.batches, FLAGS.passes)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    for count, rate in rates.items():
        print(
            f"workers={count}: {rate['median']:.1f} batches/s (min {rate['min']:.1f}, max {rate['max']:.1f}) "
            f"of {FLAGS.batch_size} x {FLAGS.patch_size}x{FLAGS.patch_size}"
        )
    if FLAGS.rate_out:
        atomic.write_json(
            FLAGS.rate_out,
            {
                "data_dir": FLAGS.data_dir,
                "batch_size": FLAGS.batch_size,
                "patch_size": FLAGS.patch_size,
                "batches": FLAGS.batches,
                "passes": FLAGS.passes,
                "cpus": os.cpu_count(),
                "processor": platform.processor() or platform.machine(),
                "load_average": os.getloadavg(),
                "batches_per_second": rates,
            },
        )


if __name__ == "__main__":
    app.run(main)
