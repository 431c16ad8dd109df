"""The numpy training-data path (any backend) and its agreement with the tf.data path."""

import os

import numpy as np
import pytest
from conftest import write_images
from PIL import Image
from scipy import stats

from keras_semdenoise.data import images, patches


def _tf_batches(source, count, **kwargs):
    dataset = images.training_dataset(source, shuffle_seed=0, **kwargs)
    out = [tuple(np.asarray(t) for t in batch) for batch in dataset.take(count)]
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


def _np_batches(source, count, **kwargs):
    dataset = patches.PatchDataset(patches.parse_sources(source), steps_per_epoch=count, seed=0, **kwargs)
    out = [dataset[i] for i in range(count)]
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


def test_parse_sources_weights_packed_and_errors():
    assert patches.parse_sources("a,b:0.5, packed:x/y.npz:2") == [
        patches.Source("a", 1.0),
        patches.Source("b", 0.5),
        patches.Source("packed:x/y.npz", 2.0),
    ]
    assert patches.parse_sources("packed:x/y.npz") == [patches.Source("packed:x/y.npz", 1.0)]
    with pytest.raises(ValueError, match=">= 0"):
        patches.parse_sources("a:-1")
    with pytest.raises(ValueError, match="all zero"):
        patches.parse_sources("a:0")
    with pytest.raises(ValueError, match="no training source"):
        patches.parse_sources(" , ")
    with pytest.raises(FileNotFoundError, match="not found"):
        patches.check_sources(patches.parse_sources("/nowhere,packed:/nowhere.npz"))


def test_validation_images_are_held_out_of_training(tmp_path):
    folder = str(tmp_path / "train")
    write_images(folder, count=3, size=(24, 24))
    held = patches.VALIDATION_IDS[0]
    os.replace(os.path.join(folder, "img00.png"), os.path.join(folder, f"{held}.png"))
    sources = patches.parse_sources(folder)
    assert [len(pool) for pool in patches.load_training_images(sources, 16)] == [2]
    assert [len(pool) for pool in patches.load_training_images(sources, 16, holdout=False)] == [3]
    validation = patches.validation_images(sources)
    assert [name for name, _ in validation] == [held]
    assert validation[0][1].dtype == np.float32 and validation[0][1].shape == (24, 24, 3)


def test_the_validation_ids_are_cbsd432_images_and_never_test_images():
    from conftest import SHARED_DATA

    cbsd432 = {os.path.splitext(n)[0] for n in os.listdir(os.path.join(SHARED_DATA, "CBSD432"))}
    cbsd68 = {os.path.splitext(n)[0] for n in os.listdir(os.path.join(SHARED_DATA, "CBSD68"))}
    assert len(set(patches.VALIDATION_IDS)) == 16
    assert set(patches.VALIDATION_IDS) <= cbsd432 and not set(patches.VALIDATION_IDS) & cbsd68


def test_packed_folder_decodes_to_the_same_pixels(tmp_path):
    folder = str(tmp_path / "train")
    write_images(folder, count=2, size=(30, 20))
    write_images(folder + "_jpg", count=1, size=(20, 20), fmt="jpg")
    os.replace(os.path.join(folder + "_jpg", "img00.jpg"), os.path.join(folder, "photo.jpg"))
    out = str(tmp_path / "train.npz")
    assert patches.pack_image_folder(folder, out)["images"] == 3
    direct = patches.read_source(patches.Source(folder))
    unpacked = patches.read_source(patches.Source("packed:" + out))
    assert [n for n, _ in direct] == [n for n, _ in unpacked] == ["img00.png", "img01.png", "photo.jpg"]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(direct, unpacked))


def _dihedral_index(patch, base):
    for index in range(patches.NUM_DIHEDRAL):
        if np.allclose(patch, patches.dihedral(base, index), atol=1e-6):
            return index
    raise AssertionError("patch is none of the 8 flips/rotations")


def test_both_paths_draw_the_8_flips_rotations_uniformly(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    base = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(base).save(folder / "img.png")
    expected = base.astype(np.float32) / 255.0
    for draw in (_tf_batches, _np_batches):
        _, clean = draw(str(folder), 20, patch_size=16, batch_size=40, sigma_255=0.0, holdout=False)
        counts = np.bincount([_dihedral_index(p, expected) for p in clean], minlength=8)
        assert counts.sum() == 800 and stats.chisquare(counts).pvalue > 1e-3, (draw.__name__, counts)


def test_both_paths_draw_crops_sources_and_noise_from_the_same_distributions(tmp_path):
    dark, bright = str(tmp_path / "dark"), str(tmp_path / "bright")
    write_images(dark, count=3, size=(40, 32), seed=1)
    write_images(bright, count=3, size=(40, 32), seed=2)
    for name in os.listdir(bright):  # bright images: the dark ones inverted, so a patch's source is its mean
        path = os.path.join(bright, name)
        Image.fromarray(255 - np.asarray(Image.open(path)) // 4).save(path)
        path = os.path.join(dark, name)
        Image.fromarray(np.asarray(Image.open(path)) // 4).save(path)
    source = f"{dark}:3,{bright}:1"
    kwargs = dict(patch_size=16, batch_size=50, holdout=False)
    results = {}
    for draw in (_tf_batches, _np_batches):
        noisy, clean = draw(source, 16, sigma_range_255=(5.0, 50.0), **kwargs)
        means = clean.mean(axis=(1, 2, 3))
        sigmas = (noisy - clean).std(axis=(1, 2, 3)) * 255.0
        results[draw.__name__] = (means, sigmas)
        dark_share = float(np.mean(means < 0.5))
        assert abs(dark_share - 0.75) < 0.07, (draw.__name__, dark_share)  # 800 draws: 3.5 standard errors
        assert sigmas.min() > 3.5 and sigmas.max() < 55.0  # per-patch std estimates: +-2.5% each
        noisy, clean = draw(source, 2, sigma_255=25.0, **kwargs)
        assert abs((noisy - clean).std() * 255.0 - 25.0) < 0.5
    (tf_means, tf_sigmas), (np_means, np_sigmas) = results["_tf_batches"], results["_np_batches"]
    assert stats.ks_2samp(tf_means, np_means).pvalue > 1e-3  # crop positions and source weights
    assert stats.ks_2samp(tf_sigmas, np_sigmas).pvalue > 1e-3  # per-patch blind sigma
    assert stats.kstest((np_sigmas - 5.0) / 45.0, "uniform").pvalue > 1e-3


def test_inverse_sigma_weighting_gives_each_patch_its_weight_in_both_paths(image_folder):
    from keras_semdenoise import noise

    kwargs = dict(patch_size=16, batch_size=40, holdout=False, sigma_range_255=(0.0, 75.0), sigma_weighting="inverse")
    tf_items = next(iter(images.training_dataset(image_folder, shuffle_seed=0, **kwargs)))
    np_items = patches.PatchDataset(patches.parse_sources(image_folder), steps_per_epoch=1, seed=0, **kwargs)[0]
    for noisy, clean, weights in ([np.asarray(t) for t in tf_items], np_items):
        assert weights.shape == (40, 1, 1) and weights.dtype == np.float32  # Keras: sample weights per patch
        sigmas = (noisy - clean).std(axis=(1, 2, 3)) * 255.0  # each patch's own noise (768 values: +-2.5%)
        expected = noise.sigma_loss_weights(sigmas, (0.0, 75.0))
        assert np.allclose(weights[:, 0, 0], expected, rtol=0.06, atol=0.05)
    with pytest.raises(ValueError, match="needs a sigma range"):
        images.training_dataset(image_folder, sigma_255=25.0, sigma_weighting="inverse")
    with pytest.raises(ValueError, match="sigma_weighting must be one of"):
        patches.PatchDataset(patches.parse_sources(image_folder), sigma_range_255=(0.0, 75.0), sigma_weighting="log")


def test_keras_weights_the_mse_of_each_patch_by_its_sample_weight():
    """What the weighting relies on: fit's loss with (batch, 1, 1) weights is the weighted mean of the per-pixel
    squared errors, the weights broadcast over each patch."""
    import keras

    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 1, (4, 8, 8, 3)).astype(np.float32)
    levels = np.array([0.01, 0.05, 0.1, 0.3], np.float32)[:, None, None, None]
    noisy = clean + levels * rng.normal(0, 1, clean.shape).astype(np.float32)
    weights = np.array([4.0, 1.0, 0.5, 0.1], np.float32)[:, None, None]
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Identity()])
    model.compile(loss="mse")
    loss = model.evaluate(noisy, clean, sample_weight=weights, batch_size=4, verbose=0)
    per_pixel = ((noisy - clean) ** 2).mean(axis=-1)
    assert loss == pytest.approx(float((weights * per_pixel).mean()), rel=1e-4)
    assert loss != pytest.approx(float(per_pixel.mean()), rel=0.05)


def test_patch_dataset_is_reproducible_per_seed_and_index(image_folder):
    sources = patches.parse_sources(image_folder)
    common = dict(patch_size=16, batch_size=4, sigma_255=25.0, steps_per_epoch=5)
    first = patches.PatchDataset(sources, seed=3, **common)
    again = patches.PatchDataset(sources, seed=3, **common)
    other = patches.PatchDataset(sources, seed=4, **common)
    noisy, clean = first[2]
    assert len(first) == 5 and noisy.shape == clean.shape == (4, 16, 16, 3)
    assert noisy.dtype == clean.dtype == np.float32 and 0.0 <= clean.min() and clean.max() <= 1.0
    assert np.array_equal(noisy, again[2][0]) and not np.array_equal(noisy, other[2][0])
    first.on_epoch_end()
    assert not np.array_equal(noisy, first[2][0])  # a new epoch draws new batches
    with pytest.raises(ValueError, match="exactly one"):
        patches.PatchDataset(sources)
