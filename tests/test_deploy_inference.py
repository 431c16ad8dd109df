import numpy as np
import pytest
from conftest import TINY

from keras_semdenoise.deploy import inference
from keras_semdenoise.models.denoiser import build_denoiser


@pytest.fixture(scope="module")
def model():
    return build_denoiser(stem_filters=8, encoder_filters=(8, 8), decoder_filters=(16,), zero_init_output=False)


def test_tiled_inference_matches_whole_image(model):
    image = np.random.default_rng(0).uniform(size=(301, 263, 3)).astype(np.float32)
    whole = inference.denoise_whole(model, image)
    calls = []
    tiled = inference.denoise_tiled(model, image, tile_size=192, overlap=96, progress=lambda d, t: calls.append((d, t)))
    assert len(calls) > 4 and calls[-1][0] == calls[-1][1]
    assert np.abs(whole - image).max() > 1e-2  # the model is not the identity
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_a_batch_gives_what_each_image_gives_alone(model):
    images = np.random.default_rng(1).uniform(size=(3, 20, 28, 3)).astype(np.float32)
    alone = np.stack([inference.denoise(model, image) for image in images])
    np.testing.assert_allclose(inference.denoise_batch(model, images), alone, atol=1e-5)  # one call
    np.testing.assert_allclose(
        inference.denoise_batch(model, images, tile_size=8, overlap=4),
        np.stack([inference.denoise(model, image, 8, 4) for image in images]),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="batch"):
        inference.denoise_batch(model, images[0])


def test_tiles_cover_the_image_with_aligned_origins():
    for height, width in [(10, 10), (700, 513), (1000, 1203)]:
        covered = np.zeros((height, width), int)
        for y0, y1, x0, x1 in inference.tile_grid(height, width, 256, 96, 4):
            assert y0 % 4 == 0 and x0 % 4 == 0
            covered[y0:y1, x0:x1] += 1
        assert covered.min() >= 1


def test_bad_tiling_arguments(model):
    with pytest.raises(ValueError):
        inference.denoise_tiled(model, np.zeros((50, 50, 3), np.float32), tile_size=64, overlap=48)
    with pytest.raises(ValueError, match="RGB"):
        inference.denoise(model, np.zeros((50, 50), np.float32))


def test_self_ensemble_inverts_every_transform(model):
    image = np.random.default_rng(3).uniform(size=(21, 34, 3)).astype(np.float32)
    from keras_semdenoise.models.denoiser import build_denoiser as build

    identity = build(stem_filters=8, encoder_filters=(8, 8), decoder_filters=(16,))  # zero output conv
    np.testing.assert_allclose(inference.denoise(identity, image, self_ensemble=True), image, atol=1e-6)
    ensembled = inference.denoise(model, image, self_ensemble=True)
    assert ensembled.shape == image.shape
    assert np.abs(ensembled - inference.denoise(model, image)).max() > 1e-4


def test_self_ensemble_reports_one_progress_over_the_eight_views(model):
    calls = []
    image = np.random.default_rng(4).uniform(size=(90, 70, 3)).astype(np.float32)
    result = inference.denoise(
        model,
        image,
        tile_size=32,
        overlap=8,
        self_ensemble=True,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result.shape == image.shape
    totals = {total for _, total in calls}
    assert len(totals) == 1 and calls[-1][0] == calls[-1][1] == totals.pop()
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)  # never goes back
    assert calls[-1][1] % inference.SELF_ENSEMBLE_VIEWS == 0


def test_one_compiled_graph_serves_every_image_size_and_matches_the_eager_model():
    model = build_denoiser(**TINY, zero_init_output=False)
    path = inference.compiled_path(model)
    assert inference.compiled_path(model) is path and "batch norm folded" in path.description
    rng = np.random.default_rng(0)
    sizes = [(17, 23), (32, 32), (40, 24), (9, 61), (33, 47), (64, 48)]  # 20 images of 6 sizes, in mixed order
    for index in range(20):
        height, width = sizes[index % len(sizes)]
        image = rng.random((height, width, 3), dtype=np.float32)
        denoised = inference.denoise(model, image)
        eager = np.asarray(model(image[None], training=False))[0]
        assert denoised.shape == image.shape
        np.testing.assert_allclose(denoised, eager, atol=2e-5)
    tiled = rng.random((100, 90, 3), dtype=np.float32)
    np.testing.assert_allclose(
        inference.denoise(model, tiled, tile_size=48, overlap=16),
        inference.denoise_tiled(model, tiled, tile_size=48, overlap=16),
        atol=1e-6,
    )
    assert path.traces == 1
