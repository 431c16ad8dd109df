import os

import keras
import numpy as np
import pytest

import keras_semdenoise  # noqa: F401  (registers the peers for load_model)
from keras_semdenoise.deploy import inference
from keras_semdenoise.models import peers


def _trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_full_size_peers_have_their_papers_layouts():
    dncnn = peers.DnCNN()
    convs = [layer for layer in dncnn.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 17 and all(c.kernel.shape[:2] == (3, 3) for c in convs)
    assert [c.filters for c in convs] == [64] * 16 + [3]
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in dncnn.layers) == 15
    # 3*9*64+64 + 15*64*64*9 + 64*9*3+3 trainable weights, plus 15 BN scales and offsets.
    assert _trainable(dncnn) == 1792 + 15 * 36864 + 1731 + 15 * 128

    ffdnet = peers.FFDNetStyle()
    convs = [layer for layer in ffdnet.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 12 and convs[0].kernel.shape == (3, 3, 13, 96) and convs[-1].filters == 12


@pytest.mark.parametrize("height,width", [(1, 1), (5, 7), (16, 10)])
def test_tiny_peers_keep_any_image_size(height, width):
    image = np.random.default_rng(0).random((2, height, width, 3), dtype=np.float32)
    for model in (peers.DnCNN(depth=3, filters=4), peers.FFDNetStyle(depth=3, filters=4)):
        assert model.predict(image, verbose=0).shape == image.shape


@pytest.mark.parametrize(
    "model", [peers.DnCNN(depth=3, filters=4), peers.FFDNetStyle(depth=3, filters=4)], ids=["dncnn", "ffdnet"]
)
def test_residual_peers_subtract_the_predicted_noise(model):
    last = model.get_layer("conv3")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    image = np.random.default_rng(1).random((1, 9, 6, 3), dtype=np.float32)
    np.testing.assert_allclose(model.predict(image, verbose=0), image, atol=1e-6)


def test_ffdnet_as_in_its_paper_outputs_the_image():
    model = peers.FFDNetStyle(depth=3, filters=4, residual=False)
    assert "subtract_noise" not in [layer.name for layer in model.layers]
    last = model.get_layer("conv3")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    image = np.random.default_rng(1).random((1, 9, 6, 3), dtype=np.float32)
    np.testing.assert_allclose(model.predict(image, verbose=0), 0.0, atol=1e-6)
    assert peers.with_noise_level(model, 50).get_config()["residual"] is False


def test_pixel_shuffle_inverts_unshuffle_in_space_to_depth_order():
    tf = pytest.importorskip("tensorflow")
    image = np.random.default_rng(2).random((2, 8, 6, 3), dtype=np.float32)
    unshuffled = np.asarray(peers.PixelUnshuffle(2)(image))
    np.testing.assert_array_equal(unshuffled, tf.nn.space_to_depth(image, 2).numpy())
    np.testing.assert_array_equal(np.asarray(peers.PixelShuffle(2)(unshuffled)), image)


def test_noise_level_map_is_a_channel_and_with_noise_level_keeps_the_weights():
    mapped = np.asarray(peers.NoiseLevelMap(51.0)(np.zeros((1, 2, 3, 12), np.float32)))
    assert mapped.shape == (1, 2, 3, 13) and np.allclose(mapped[..., 12], 0.2) and not mapped[..., :12].any()
    model = peers.FFDNetStyle(noise_level_255=25, depth=3, filters=4)
    other = peers.with_noise_level(model, 50)
    assert other.get_config()["noise_level_255"] == 50.0
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    image = np.random.default_rng(3).random((1, 6, 6, 3), dtype=np.float32)
    assert not np.allclose(model.predict(image, verbose=0), other.predict(image, verbose=0))


@pytest.mark.parametrize("cls", [peers.DnCNN, peers.FFDNetStyle])
def test_peer_config_round_trips_and_saved_file_loads(cls, tmp_path):
    model = cls(depth=4, filters=8)
    config = model.get_config()
    assert cls.from_config(config).get_config() == config
    path = os.path.join(tmp_path, "peer.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is cls and loaded.get_config() == config
    image = np.random.default_rng(4).random((1, 10, 6, 3), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(image, verbose=0), model.predict(image, verbose=0), atol=1e-6)
    assert inference.size_multiple(loaded) == model.size_multiple


def test_peers_reject_impossible_sizes():
    with pytest.raises(ValueError, match="depth"):
        peers.DnCNN(depth=2)
    with pytest.raises(ValueError, match="depth"):
        peers.FFDNetStyle(filters=0)
