"""A segmentation head's input scale: the InputScale layer, setting it on a trained head, choosing it on validation."""

import json

import keras
import numpy as np
import pytest
from conftest import segmentation_folder

import keras_semdenoise  # noqa: F401 - registers the custom layers for loading
from experiments.probes import head_scale as input_scale
from experiments.probes.head_scale import HeadScaleConfig, choose_input_scale
from keras_semdenoise.data import sources
from keras_semdenoise.evaluation import head_scores
from keras_semdenoise.models.heads import VGG16Trunk, build_deeplab_largefov, build_vgg16_classifier
from keras_semdenoise.models.heads.deeplab import InputScale, input_scale_of, with_input_scale

TRUNK = VGG16Trunk(width_divisor=16, batch_norm=True)


def _head(input_scale=1.0, seed=0):
    keras.utils.set_random_seed(seed)
    return build_deeplab_largefov(3, trunk=TRUNK, fc_units=16, input_scale=input_scale)


def test_input_scale_layer_resizes_by_the_factor():
    images = np.random.default_rng(0).random((2, 20, 24, 3), dtype=np.float32)
    assert InputScale(1.0)(images).shape == (2, 20, 24, 3)
    np.testing.assert_array_equal(np.asarray(InputScale(1.0)(images)), images)
    up = np.asarray(InputScale(1.5)(images))
    assert up.shape == (2, 30, 36, 3)
    np.testing.assert_allclose(up, np.asarray(keras.ops.image.resize(images, (30, 36))), atol=1e-6)
    assert InputScale(0.5)(images).shape == (2, 10, 12, 3)
    assert InputScale(1.5).compute_output_shape((None, 20, 24, 3)) == (None, 30, 36, 3)
    assert InputScale(1.5).compute_output_shape((None, None, None, 3)) == (None, None, None, 3)
    assert InputScale.from_config(InputScale(1.25, name="s").get_config()).scale == 1.25
    for bad in (0, -1.0, float("nan"), float("inf"), "2", True):
        with pytest.raises(ValueError, match="input_scale"):
            InputScale(bad)


def test_built_head_at_a_scale_keeps_the_input_size_and_computes_on_the_resized_image():
    scaled = _head(1.5)
    assert input_scale_of(scaled) == 1.5 and input_scale_of(_head()) == 1.0
    images = np.random.default_rng(1).random((1, 24, 32, 3), dtype=np.float32)
    logits = np.asarray(scaled(images))
    assert logits.shape == (1, 24, 32, 3)
    # The same layers at scale 1 see the image resized by hand: their stride-8 logits are the scaled head's.
    plain = _head(1.0)
    plain.set_weights(scaled.get_weights())
    fc8 = keras.Model(plain.input, plain.get_layer("fc8").output)
    scaled_fc8 = keras.Model(scaled.input, scaled.get_layer("fc8").output)
    by_hand = np.asarray(fc8(np.asarray(keras.ops.image.resize(images, (36, 48)))))
    np.testing.assert_allclose(np.asarray(scaled_fc8(images)), by_hand, rtol=1e-5, atol=1e-5)
    # relu3_3 (the perceptual layer) is computed at the scaled size.
    assert keras.Model(scaled.input, scaled.get_layer("block3_conv3").output)(images).shape[1:3] == (9, 12)


def test_with_input_scale_sets_replaces_and_removes_the_scale_with_the_same_weights(tmp_path):
    head = _head()
    images = np.random.default_rng(2).random((1, 16, 24, 3), dtype=np.float32)
    reference = _head(1.5, seed=5)
    reference.set_weights(head.get_weights())
    scaled = with_input_scale(head, 1.5)
    assert [layer.name for layer in scaled.layers][:3] == ["images", "input_scale", "caffe_input"]
    np.testing.assert_allclose(np.asarray(scaled(images)), np.asarray(reference(images)), rtol=1e-5, atol=1e-5)
    twice = with_input_scale(scaled, 2.0)  # absolute, not 1.5 x 2
    assert input_scale_of(twice) == 2.0 and sum(isinstance(layer, InputScale) for layer in twice.layers) == 1
    back = with_input_scale(twice, 1.0)
    assert "input_scale" not in [layer.name for layer in back.layers]
    np.testing.assert_array_equal(np.asarray(back(images)), np.asarray(head(images)))
    path = str(tmp_path / "scaled.keras")
    scaled.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert input_scale_of(loaded) == 1.5
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(scaled(images)))


def test_with_input_scale_refuses_a_classifier_and_bad_scales():
    classifier = build_vgg16_classifier(
        3, trunk=VGG16Trunk(width_divisor=16, input_shape=(32, 32, 3)), top="gap", hidden_units=8
    )
    with pytest.raises(ValueError, match="segmentation heads"):
        with_input_scale(classifier, 1.5)
    with pytest.raises(ValueError, match="input_scale"):
        with_input_scale(_head(), 0)


def test_chosen_scale_is_the_best_on_validation_and_the_smaller_on_ties():
    assert input_scale.chosen_scale({"1": 50.0, "1.5": 52.0, "2": 51.0}) == 1.5
    assert input_scale.chosen_scale({"2": 52.0, "1.5": 52.0, "1": 40.0}) == 1.5


def test_choose_input_scale_measures_each_scale_ships_the_best_and_resumes(tmp_path, monkeypatch):
    data = segmentation_folder(str(tmp_path / "seg"), count=3, size=(32, 24))
    head_path = str(tmp_path / "head.keras")
    _head(seed=3).save(head_path)
    config = HeadScaleConfig(
        data=data,
        num_classes=3,
        ignore_index=3,
        head=head_path,
        out=str(tmp_path / "out"),
        scales=(1, 2),
        val_split="train",
        eval_split="test",
    )
    state = choose_input_scale(config, progress=False)

    head = keras.saving.load_model(head_path, compile=False)
    val = sources.load_split("segmentation", data, "train", 3, 3)
    test = sources.load_split("segmentation", data, "test", 3, 3)
    expected = {
        key: head_scores.evaluate_head(with_input_scale(head, float(key)), val, 1, None)["miou"] for key in ("1", "2")
    }
    assert state["validation"] == pytest.approx(expected)
    assert state["chosen"] == input_scale.chosen_scale(expected)
    shipped = keras.saving.load_model(str(tmp_path / "out" / "head.keras"), compile=False)
    assert input_scale_of(shipped) == state["chosen"]
    evaluation = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert evaluation["input_scale"] == state["chosen"] and evaluation["images"] == 3
    assert evaluation["miou"] == pytest.approx(head_scores.evaluate_head(shipped, test, 1, None)["miou"])
    assert set(evaluation["class_iou"]) == {"0", "1", "2"}
    table = (tmp_path / "out" / "scales.md").read_text()
    assert "(chosen)" in table and f"{evaluation['miou']:.2f}" in table

    # Run again: nothing is measured again (the scales and the test split are kept).
    def fail(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(input_scale, "measure_segmentation", fail)
    assert choose_input_scale(config, progress=False)["evaluation"] == state["evaluation"]


def test_head_scale_config_checks_its_settings(tmp_path):
    fields = dict(data=str(tmp_path), head="h.keras", out=str(tmp_path / "o"))
    with pytest.raises(ValueError, match="cannot also report"):
        HeadScaleConfig(**fields, val_split="test", eval_split="test")
    with pytest.raises(ValueError, match="at least one"):
        HeadScaleConfig(**fields, scales=())
    with pytest.raises(ValueError, match="input_scale"):
        HeadScaleConfig(**fields, scales=(1.0, -2.0))


def test_choose_head_scale_tool_prints_the_table(tmp_path):
    from conftest import run_module

    data = segmentation_folder(str(tmp_path / "seg"), count=2, size=(32, 24))
    head_path = str(tmp_path / "head.keras")
    _head(seed=4).save(head_path)
    out = tmp_path / "out"
    result = run_module(
        [
            "experiments.probes.choose_head_scale",
            f"--data={data}",
            "--num_classes=3",
            "--ignore_index=3",
            f"--head={head_path}",
            "--scales=1,1.5",
            "--val_split=train",
            "--eval_split=test",
            f"--out={out}",
        ]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| 1.5" in result.stdout and "(chosen)" in result.stdout
    assert (out / "head.keras").exists() and (out / "eval.json").exists()
