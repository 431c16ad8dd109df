"""The photometric jitter of segmentation training frames (``data.photometric``): what each factor does, one
definition giving the same pixels in numpy and in TensorFlow, the same factor distribution in both readers,
labels untouched, and clear errors."""

import numpy as np
import pytest
from conftest import segmentation_folder

from keras_semdenoise.data import packed, photometric, task_data
from keras_semdenoise.training.head_training import HeadConfig


def _image(seed=0, shape=(6, 5, 3)):
    return np.random.default_rng(seed).uniform(0.1, 0.9, shape).astype(np.float32)


def test_each_factor_does_what_its_name_says():
    image = _image()
    np.testing.assert_allclose(photometric.adjust(image, 1.0, 1.0, 1.0), image, atol=1e-6)
    np.testing.assert_allclose(photometric.adjust(image, 0.5, 1.0, 1.0), image * 0.5, atol=1e-6)
    grey = image @ np.asarray(photometric.LUMA, np.float32)
    flat = photometric.adjust(image, 1.0, 0.0, 1.0)  # no contrast: every pixel the mean grey
    np.testing.assert_allclose(flat, np.full_like(image, grey.mean()), atol=1e-6)
    desaturated = photometric.adjust(image, 1.0, 1.0, 0.0)  # no saturation: each pixel its own grey
    np.testing.assert_allclose(desaturated, np.repeat(grey[..., None], 3, -1), atol=1e-6)
    assert photometric.adjust(image, 1.9, 1.9, 1.9).max() == 1.0  # clipped to [0, 1]
    more = photometric.adjust(image, 1.0, 1.5, 1.0)
    assert more.std() > image.std()


def test_numpy_and_tensorflow_give_the_same_pixels_for_the_same_factors():
    import tensorflow as tf
    import tensorflow.experimental.numpy as tnp

    image = _image(1, (8, 7, 3))
    for factors in [(1.2, 0.8, 1.3), (0.7, 1.25, 0.75), (1.0, 1.0, 0.0)]:
        mine = photometric.adjust(image, *factors)
        theirs = photometric.adjust(tf.constant(image), *(tf.constant(f, tf.float32) for f in factors), xp=tnp)
        np.testing.assert_allclose(np.asarray(theirs), mine, atol=1e-6)


def test_both_readers_draw_factors_from_the_same_uniform_range():
    import tensorflow as tf

    tf.random.set_seed(0)
    drawn = {
        "numpy": np.stack([photometric.factors_np(0.3, np.random.default_rng(i)) for i in range(2000)]),
        "tensorflow": np.stack([np.asarray(photometric.factors_tf(0.3)) for _ in range(2000)]),
    }
    for values in drawn.values():
        assert values.shape == (2000, 3) and values.min() >= 0.7 and values.max() <= 1.3
        np.testing.assert_allclose(values.mean(0), 1.0, atol=0.02)
        np.testing.assert_allclose(values.std(0), 0.6 / np.sqrt(12), atol=0.01)  # uniform's sd
        assert abs(np.corrcoef(values.T)[0, 1]) < 0.1  # drawn independently


def test_folder_and_packed_batches_jitter_frames_and_leave_labels_alone(tmp_path):
    data = segmentation_folder(str(tmp_path / "seg"))  # 24x20 frames, 4x4 label blocks
    packed.pack_split("segmentation", data, "train", str(tmp_path / "p" / "train.npz"), 3, 3)
    packed_split = packed.load_split(f"packed:{tmp_path / 'p'}", "train")
    folder_split = task_data.load_split("segmentation", data, "train", 3, 3)
    plain = {
        bytes(label.astype(np.uint8)): image
        for image, label in zip(*next(packed.batches(packed_split, 4, None, training=False)))
    }
    # Whole frames (no crop), no flips to undo: compare each jittered frame with its plain one by its label.
    for images, labels in [
        next(packed.batches(packed_split, 4, None, training=True, seed=0, color_jitter=0.5)),
        next(iter(task_data.batches(folder_split, 4, None, training=True, color_jitter=0.5))),
    ]:
        images, labels = np.asarray(images), np.asarray(labels)
        assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
        changed = 0
        for image, label in zip(images, labels):
            original = plain[bytes(label.astype(np.uint8))]  # the label map is the frame's, unchanged
            changed += np.abs(image - original).mean() > 1e-3
        assert changed >= 3  # factors of exactly 1 are all but impossible
    images, _ = next(packed.batches(packed_split, 4, None, training=False, color_jitter=0.5))
    assert all(np.array_equal(image, plain[key]) for image, key in zip(images, plain))  # evaluation: none


def test_bad_strengths_and_tasks_are_refused(tmp_path):
    assert photometric.check_strength(0, "segmentation") is None
    with pytest.raises(ValueError, match="in \\(0, 0.9\\]"):
        photometric.check_strength(1.5, "segmentation")
    with pytest.raises(ValueError, match="segmentation augmentation"):
        HeadConfig(task="classification", data=str(tmp_path), model_dir=str(tmp_path / "h"), color_jitter=0.3)
