"""A tensorflow-datasets builder for folders of clean images (denoising training/test sets).

    import tensorflow_datasets as tfds
    from keras_semdenoise.data.tfds_folder import DenoisingImageFolder, noisy_pairs
    builder = DenoisingImageFolder(data_dir="~/tensorflow_datasets",
        config=None) ; builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="../shared/data/CBSD432"))
    train = noisy_pairs(builder.as_dataset(split="train"), sigma_255=25)

``manual_dir`` holds the images directly (one ``train`` split) or in ``train/`` and
``test/`` subfolders (two splits). Images are decoded by ``imageio.load_image``
(16-bit, grayscale, RGBA and TIFF handled the package's way) and stored as 8-bit RGB.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from keras_semdenoise import imageio

logger = logging.getLogger(__name__)

SPLIT_FOLDERS = ("train", "test")


def _split_folders(manual_dir: str) -> dict[str, str]:
    if not manual_dir or not os.path.isdir(manual_dir):
        raise FileNotFoundError(
            f"manual_dir {manual_dir!r} is not a folder: put the clean images there "
            "(flat, or in train/ and test/ subfolders) and pass DownloadConfig(manual_dir=...)"
        )
    subfolders = {s: os.path.join(manual_dir, s) for s in SPLIT_FOLDERS if os.path.isdir(os.path.join(manual_dir, s))}
    folders = subfolders or {"train": manual_dir}
    if not any(imageio.list_image_files(folder) for folder in folders.values()):
        raise ValueError(
            f"no images in {manual_dir}: put PNG/JPEG/TIFF files there, or in train/ and test/ subfolders"
        )
    return folders


class DenoisingImageFolder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Clean RGB images from ``manual_dir``: features ``image`` (uint8, H x W x 3) and ``name`` (file stem)."""

    name = "denoising_image_folder"
    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the clean images (PNG/JPEG/TIFF) in manual_dir, either directly (one 'train' split) "
        "or in train/ and test/ subfolders (two splits). Example: ../shared/data/CBSD432."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8), "name": tfds.features.Text()}
            ),
            description="Folder of clean images for denoising (noise is added on the fly, see noisy_pairs).",
        )

    def _split_generators(self, dl_manager):
        folders = _split_folders(str(dl_manager.manual_dir))
        return {split: self._generate_examples(folder) for split, folder in folders.items()}

    def _generate_examples(self, folder):
        for path in imageio.list_image_files(folder):
            try:
                pixels = imageio.load_image(path).pixels
            except imageio.ImageReadError as error:
                logger.warning("skipping %s", error)
                continue
            name = os.path.splitext(os.path.basename(path))[0]
            yield name, {"image": np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8), "name": name}


def noisy_pairs(dataset, patch_size: int = 48, batch_size: int = 32, sigma_255: float = 25.0):
    """Maps a DenoisingImageFolder split to batches of ``(noisy, clean)`` float32 patches.

    Same crops, flips/rotations and noise model as ``data.images.training_dataset``.
    Images smaller than ``patch_size`` are dropped.
    """
    import tensorflow as tf

    from keras_semdenoise.data import images

    def large_enough(example):
        shape = tf.shape(example["image"])
        return tf.logical_and(shape[0] >= patch_size, shape[1] >= patch_size)

    return (
        dataset.filter(large_enough)
        .map(lambda example: example["image"])
        .repeat()
        .map(images.patch_pipeline(patch_size, sigma_255, None), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
