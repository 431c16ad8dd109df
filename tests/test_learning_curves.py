import json

from keras_semdenoise import learning_curves as plot_learning_curves


def test_learning_curve_of_a_shipped_model_is_drawn_at_total_steps(tmp_path):
    history = [{"step": 250, "eval_psnr": 33.3}, {"step": 500, "loss": 0.1}, {"step": 750, "eval_psnr": 33.9}]
    (tmp_path / "denoiser_sigma15.history.json").write_text(json.dumps({"config": {"sigma": 15.0},
                                                                         "history": history}))
    (tmp_path / "MODELS.json").write_text(json.dumps(
        {"denoiser_sigma15": {"steps_trained": 10750, "steps_this_run": 750}}))
    steps, values, _, label = plot_learning_curves.load_curve(str(tmp_path / "denoiser_sigma15.history.json"))
    assert steps == [10250, 10750] and values == [33.3, 33.9] and label == "denoiser_sigma15 (fp32, validation at sigma 15)"
    out = tmp_path / "curve.png"
    plot_learning_curves.plot([str(tmp_path / "denoiser_sigma15.history.json")], str(out), {"CBM3D": 33.5})
    assert out.stat().st_size > 1000
