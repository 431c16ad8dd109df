"""Flat-colour probe: an identity model leaves exactly the noise, a model that returns the patch mean removes
nearly all of it, and a model that doubles the noise on reds only is flagged there."""

import keras
import matplotlib
import numpy as np
import pytest
from keras import ops

from keras_semdenoise.evaluation import flat_colours


def _model(function):
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Lambda(function)(inputs))


def test_identity_leaves_the_noise():
    results = flat_colours.flat_colour_errors(_model(lambda x: x), 25.0, size=16)
    assert set(results) == set(flat_colours.COLOURS)
    for cell in results.values():
        assert cell["output_rmse"] == pytest.approx(cell["noisy_rmse"], rel=1e-6)
        assert cell["noisy_rmse"] == pytest.approx(25 / 255, rel=0.15)


def test_patch_mean_removes_the_noise_and_red_failures_are_bold():
    mean = flat_colours.flat_colour_errors(
        _model(lambda x: ops.mean(x, axis=(1, 2), keepdims=True) + 0 * x), 25.0, size=16
    )
    assert all(cell["output_rmse"] < 0.2 * cell["noisy_rmse"] for cell in mean.values())

    def worse_on_red(x):  # doubles the noise where R is well above G and B
        red = ops.cast(x[..., :1] - ops.maximum(x[..., 1:2], x[..., 2:]) > 0.3, x.dtype)
        smooth = ops.mean(x, axis=(1, 2), keepdims=True)
        return red * (2 * x - smooth) + (1 - red) * x

    failing = flat_colours.flat_colour_errors(_model(worse_on_red), 25.0, size=16)
    assert failing["red"]["output_rmse"] > 1.5 * failing["red"]["noisy_rmse"]
    table = flat_colours.markdown({"mean": mean, "red fails": failing}, 25.0)
    red_row = next(line for line in table.splitlines() if line.startswith("| red "))
    grey_row = next(line for line in table.splitlines() if line.startswith("| grey 0.5 "))
    assert red_row.count("**") == 2 and "**" not in grey_row


def test_bad_colour_is_an_error():
    with pytest.raises(ValueError, match="three values"):
        flat_colours.flat_colour_errors(_model(lambda x: x), 25.0, colours={"bad": (1.5, 0, 0)}, size=16)


def test_the_figure_shows_each_patch_and_marks_added_error_in_red():
    colours = {"grey 0.5": (0.5, 0.5, 0.5), "red": (0.8, 0.2, 0.1)}

    def worse_on_red(x):  # doubles the noise where R is well above G and B, the patch mean elsewhere
        red = ops.cast(x[..., :1] - ops.maximum(x[..., 1:2], x[..., 2:]) > 0.3, x.dtype)
        smooth = ops.mean(x, axis=(1, 2), keepdims=True)
        return red * (2 * x - smooth) + (1 - red) * (smooth + 0 * x)

    patches = {
        name: flat_colours.flat_colour_patches(_model(function), 25.0, colours, size=16)
        for name, function in (("identity", lambda x: x), ("red fails", worse_on_red))
    }
    assert flat_colours.errors(patches["identity"])["red"]["output_rmse"] == pytest.approx(
        flat_colours.flat_colour_errors(_model(lambda x: x), 25.0, colours, size=16)["red"]["output_rmse"]
    )
    figure = flat_colours.figure(patches, 25.0)
    axes = np.array(figure.axes).reshape(2, 3)  # rows: colours; columns: noisy, identity, red fails
    np.testing.assert_allclose(axes[1][0].images[0].get_array(), np.clip(patches["identity"]["red"]["noisy"], 0, 1))
    red = (1.0, 0.0, 0.0, 1)
    colour_of = lambda axis: matplotlib.colors.to_rgba(axis.title.get_color())  # noqa: E731
    assert colour_of(axes[1][2]) == red and colour_of(axes[0][2]) != red  # worse on red only
    assert colour_of(axes[1][1]) != red  # the identity adds nothing
    assert axes[0][1].get_title().startswith("identity") and axes[1][0].get_ylabel() == "red"
