"""Image folders -> tf.data pipelines of (noisy, clean) training patches.

Decoding goes through ``keras_semdenoise.imageio.load_image`` (PNG, JPEG, TIFF,
16-bit, grayscale all handled in one place); decoded images are cached in memory
as uint8, then every pass takes random crops with the 8 flips/rotations and adds
Gaussian noise on the fly (``keras_semdenoise.noise``).
"""

from __future__ import annotations

import numpy as np

from keras_semdenoise import imageio, noise
from keras_semdenoise.data import patches


def random_dihedral(patch, tf):
    """``patches.dihedral`` on tf.data: index d uniform in 0..7, rot90 by d % 4, then a left-right flip if d >= 4."""
    index = tf.random.uniform([], 0, patches.NUM_DIHEDRAL, dtype=tf.int32)
    patch = tf.image.rot90(patch, index % 4)
    return tf.cond(index >= 4, lambda: tf.image.flip_left_right(patch), lambda: patch)


def _check_sigmas(sigma_255, sigma_range_255, sigma_weighting: str = "none"):
    noise.check_sigma_weighting(sigma_weighting, sigma_range_255)
    if (sigma_255 is None) == (sigma_range_255 is None):
        raise ValueError("give exactly one of sigma_255 and sigma_range_255")
    if sigma_255 is not None:
        noise.check_sigma(sigma_255)
        return
    low, high = (noise.check_sigma(s) for s in sigma_range_255)
    if low > high:
        raise ValueError(f"sigma range must be (low, high) with low <= high, got {sigma_range_255}")


def augment_and_noise(
    sigma_255: float | None, sigma_range_255: tuple[float, float] | None, sigma_weighting: str = "none"
):
    """A tf function: uint8 (P, P, 3) patch -> (noisy, clean) float32, randomly flipped/rotated.

    ``clean`` is in [0, 1]; the noise is ``sigma_255`` or, for blind training, a sigma drawn
    uniformly from ``sigma_range_255`` per patch. ``sigma_weighting="inverse"`` (blind): a third item,
    the patch's loss weight (``noise.sigma_loss_weights``), shape (1, 1), which Keras reads as sample weight.
    """
    import tensorflow as tf

    _check_sigmas(sigma_255, sigma_range_255, sigma_weighting)

    def apply(patch):
        clean = tf.image.convert_image_dtype(random_dihedral(patch, tf), tf.float32)
        if sigma_255 is not None:
            sigma = tf.constant(sigma_255, tf.float32)
        else:
            sigma = tf.random.uniform([], *sigma_range_255)
        noisy = noise.add_gaussian_noise_tf(clean, sigma)
        if sigma_weighting == "inverse":
            return noisy, clean, tf.reshape(noise.sigma_loss_weights(sigma, sigma_range_255), [1, 1])
        return noisy, clean

    return apply


def training_dataset(
    sources,
    patch_size: int = 48,
    batch_size: int = 32,
    sigma_255: float | None = None,
    sigma_range_255: tuple[float, float] | None = None,
    patches_per_image: int = 8,
    shuffle_seed: int | None = None,
    holdout: bool = True,
    sigma_weighting: str = "none",
):
    """Infinite tf.data pipeline of noisy/clean training patches (the example ``patches`` defines).

    Args:
        sources: a folder, a ``"DIR[:WEIGHT],..."`` spec or a list of ``patches.Source``
            (e.g. ``../shared/data/CBSD432``); folders are drawn by weight, images uniformly.
        patch_size: side of the square crops (paper: 48).
        batch_size: patches per batch (paper: 32); the global batch under a strategy.
        sigma_255: fixed noise level on the 0..255 scale, or None with ``sigma_range_255``.
        sigma_range_255: (low, high): a sigma drawn uniformly per patch (blind training).
        patches_per_image: crops taken from an image each time it is visited.
        shuffle_seed: seed for the image order (None: random).
        holdout: leave out the validation images (``patches.VALIDATION_IDS``).
        sigma_weighting: ``inverse``: each item also holds its patches' loss weights (``augment_and_noise``).

    Returns:
        ``tf.data.Dataset`` of ``(noisy, clean)``, each ``(batch_size, patch, patch, 3)``
        float32; clean in [0, 1], noisy unclipped.
    """
    import tensorflow as tf

    _check_sigmas(sigma_255, sigma_range_255, sigma_weighting)
    if patch_size < 1 or batch_size < 1:
        raise ValueError(f"patch_size and batch_size must be >= 1, got {patch_size} and {batch_size}")
    if isinstance(sources, str):
        sources = patches.parse_sources(sources)
    pools = patches.load_training_images(sources, patch_size, holdout)

    def crops(image):
        stacked = tf.stack([tf.image.random_crop(image, [patch_size, patch_size, 3]) for _ in range(patches_per_image)])
        return tf.data.Dataset.from_tensor_slices(stacked)

    def source_dataset(pool):
        def fetch(index):
            image = tf.numpy_function(lambda i: pool[int(i)], [index], tf.uint8, stateful=False)
            image.set_shape([None, None, 3])
            return image

        return (
            tf.data.Dataset.range(len(pool))
            .repeat()
            .shuffle(len(pool), seed=shuffle_seed)
            .map(fetch, num_parallel_calls=tf.data.AUTOTUNE)
            .flat_map(crops)
        )

    weights = [s.weight for s in sources]
    datasets = [source_dataset(pool) for pool in pools]
    if len(datasets) == 1:
        dataset = datasets[0]
    else:
        total = float(sum(weights))
        dataset = tf.data.Dataset.sample_from_datasets(datasets, [w / total for w in weights], seed=shuffle_seed)
    dataset = (
        dataset.shuffle(max(patches_per_image * 16, batch_size), seed=shuffle_seed)
        .map(augment_and_noise(sigma_255, sigma_range_255, sigma_weighting), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def evaluation_images(folder: str, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """``[(name, clean)]`` for the first ``limit`` images of ``folder`` (sorted), clean (H, W, 3) float32 in [0, 1]."""
    files = imageio.list_image_files(folder)
    if not files:
        raise ValueError(f"no images in {folder}")
    if limit:
        files = files[:limit]
    import os

    return [(os.path.splitext(os.path.basename(p))[0], imageio.load_image(p).pixels) for p in files]


def noisy_pairs(dataset, patch_size: int = 48, batch_size: int = 32, sigma_255: float = noise.DEFAULT_SIGMA_255):
    """Maps a ``data.tfds_folder.DenoisingImageFolder`` split to an infinite dataset of ``(noisy, clean)`` batches.

    One random ``patch_size`` crop per image per pass, shuffled, with the same flips/rotations
    and noise model as ``training_dataset``.

    Args:
        dataset: ``builder.as_dataset(split=...)``: dicts with ``image`` uint8 (H, W, 3).
        patch_size: side of the square crops; smaller images are skipped (if all are, the
            returned dataset is empty).
        batch_size: patches per batch.
        sigma_255: noise standard deviation on the 0..255 scale.

    Returns:
        ``tf.data.Dataset`` of ``(noisy, clean)``, each float32 ``(batch_size, patch_size,
        patch_size, 3)``; clean in [0, 1], noisy = clean + N(0, (sigma_255 / 255)^2), unclipped.
    """
    import tensorflow as tf

    if patch_size < 1 or batch_size < 1:
        raise ValueError(f"patch_size and batch_size must be >= 1, got {patch_size} and {batch_size}")
    augment = augment_and_noise(sigma_255, None)  # checks sigma_255

    def large_enough(example):
        shape = tf.shape(example["image"])
        return tf.logical_and(shape[0] >= patch_size, shape[1] >= patch_size)

    def crop(example):
        return tf.image.random_crop(example["image"], [patch_size, patch_size, 3])

    return (
        dataset.filter(large_enough)
        .repeat()
        .map(crop, num_parallel_calls=tf.data.AUTOTUNE)
        .shuffle(max(16 * batch_size, 256))
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
