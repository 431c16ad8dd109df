import os

import keras
import numpy as np
import pytest

import keras_semdenoise  # noqa: F401  (registers the published peers' layers and models)
from keras_semdenoise import metrics, noise
from keras_semdenoise.data import images as image_data
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.evaluation import published_peers as measured
from keras_semdenoise.models import published_peers

FOLDER = measured.peers_folder()
needs_files = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(FOLDER, f)) for f in published_peers.PUBLISHED_FILES.values()),
    reason=f"the authors' .mat files are not in {FOLDER} (shared data; set $SEMDENOISE_DATA_DIR)",
)


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_published_architectures_have_the_files_layouts():
    cdncnn = published_peers.build_cdncnn_b()
    convs = _convs(cdncnn)
    assert len(convs) == 20 and convs[0].kernel.shape == (3, 3, 3, 64) and convs[-1].kernel.shape == (3, 3, 64, 3)
    assert all(c.use_bias for c in convs) and not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in cdncnn.layers
    )
    assert cdncnn.count_params() == (27 * 64 + 64) + 18 * (576 * 64 + 64) + (576 * 3 + 3)
    ffdnet = published_peers.build_ffdnet_color(50)
    convs = _convs(ffdnet)
    assert len(convs) == 12 and convs[0].kernel.shape == (3, 3, 13, 96) and convs[-1].kernel.shape == (3, 3, 96, 12)
    assert ffdnet.get_config()["noise_level_255"] == 50.0
    with pytest.raises(ValueError, match="unknown published peer"):
        published_peers.build_published_peer("dncnn")


@pytest.mark.parametrize("height,width", [(1, 1), (5, 7), (16, 10)])
def test_published_peers_keep_any_image_size(height, width):
    image = np.random.default_rng(0).random((2, height, width, 3), dtype=np.float32)
    for model in (published_peers.CDnCNNB(depth=3, filters=4), published_peers.FFDNetColor(10, depth=3, filters=4)):
        assert model.predict(image, verbose=0).shape == image.shape


def test_matconvnet_unshuffle_orders_channels_colour_major_and_shuffle_inverts_it():
    image = np.random.default_rng(2).random((2, 8, 6, 3), dtype=np.float32)
    unshuffled = np.asarray(published_peers.MatConvNetPixelUnshuffle(2)(image))
    assert unshuffled.shape == (2, 4, 3, 12)
    # Channel 4c + k holds colour c at (row, column) offset k = (0,0), (1,0), (0,1), (1,1).
    for c in range(3):
        for k, (dy, dx) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
            np.testing.assert_array_equal(unshuffled[..., 4 * c + k], image[:, dy::2, dx::2, c])
    np.testing.assert_array_equal(np.asarray(published_peers.MatConvNetPixelShuffle(2)(unshuffled)), image)


def test_published_peers_round_trip_their_config():
    model = published_peers.FFDNetColor(15, depth=3, filters=4)
    copy = published_peers.FFDNetColor.from_config(model.get_config())
    assert copy.get_config() == model.get_config()
    assert keras.saving.get_registered_object("keras_semdenoise>CDnCNNB") is published_peers.CDnCNNB


def test_a_missing_file_says_where_it_was_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        measured.load_published_peer("cdncnn_b", str(tmp_path))
    with pytest.raises(ValueError, match="use one of"):
        measured.load_published_peer("bm3d", str(tmp_path))


def test_comparison_rows_take_the_difference_to_the_reference():
    title = measured.TITLES["cdncnn_b"]
    state = {"results": {"Kodak24": {"25": {title: {"count": 24, "mean_psnr": 32.20}}}}}
    (row,) = measured.comparison_rows(state)
    assert (row["set"], row["sigma"], row["reference"]) == ("Kodak24", 25, 32.14)
    assert row["difference"] == pytest.approx(0.06) and row["within"] is False
    assert "| NO |" in measured.comparison_markdown([row])


@needs_files
@pytest.mark.parametrize("name", sorted(published_peers.PUBLISHED_FILES))
def test_loading_fills_every_weight(name):
    path = os.path.join(FOLDER, published_peers.PUBLISHED_FILES[name])
    model = published_peers.build_published_peer(name)
    # NaN everywhere first: a weight the loader missed stays NaN (FFDNet's last bias is all zeros in its file).
    model.set_weights([np.full(w.shape, np.nan, np.float32) for w in model.get_weights()])
    published_peers.load_matconvnet_weights(model, path)
    loaded = model.get_weights()
    assert len(loaded) == 2 * len(_convs(model)) and all(np.isfinite(w).all() for w in loaded)
    expected = [array for pair in published_peers.matconvnet_conv_weights(path) for array in pair]
    for got, want in zip(loaded, expected):
        np.testing.assert_array_equal(got, want)


@needs_files
@pytest.mark.parametrize("name", sorted(published_peers.PUBLISHED_FILES))
def test_published_peers_denoise_a_crop_at_sigma_25(name):
    kodak = os.path.join(default_data_root(), "Kodak24")
    if not os.path.isdir(kodak):
        pytest.skip(f"no Kodak24 in {default_data_root()}")
    _, image = image_data.evaluation_images(kodak, 3)[2]
    clean = image[200:264, 300:364]  # kodim03: caps and a plain background
    noisy = noise.add_seeded_gaussian_noise(clean, 25, "kodim03 crop")
    denoised = measured.load_published_peer(name, noise_level_255=25).predict(noisy[None], verbose=0)[0]
    gain = metrics.psnr_uint8(clean, denoised) - metrics.psnr_uint8(clean, noisy)
    assert gain > 8.0, gain
