import pytest

from bench import run_bench
from keras_semdenoise.denoiser import build_denoiser


def test_flops_per_pixel_of_the_official_model_and_dncnn():
    # PAPER.md: about 0.44 MFLOP per pixel for the official architecture.
    assert run_bench.conv_flops_per_pixel(build_denoiser()) == pytest.approx(0.44e6, rel=0.02)
    # DnCNN: 17 layers of 3x3 convs, 64 channels: 2 * 9 * (3*64 + 15*64*64 + 64*3) per pixel.
    expected = 2 * 9 * (3 * 64 + 15 * 64 * 64 + 64 * 3)
    assert run_bench.conv_flops_per_pixel(run_bench.build_dncnn()) == pytest.approx(expected, rel=1e-6)


def test_markdown_reports_ratios_from_the_same_run_on_the_same_images():
    def method(per_image, seconds):
        return {"sets": {"Kodak24": {"psnr": sum(per_image) / len(per_image), "images": len(per_image),
                                     "per_image": per_image}}, "seconds_per_megapixel": seconds}

    report = {"machine": "m", "cpu": "c", "tensorflow": "t", "keras": "k", "model": "x.keras", "sigma": 25.0,
              "protocol": "p",
              "methods": {"Keras (graph)": method([32.0, 33.0, 30.0], 2.0), "CBM3D": method([31.0, 31.5], 60.0),
                          "TFLite int8, 1 thread": method([31.9, 32.8, 29.9], 3.0)},
              "flops_per_pixel": 0.44e6, "dncnn_flops_per_pixel": 1.1e6, "achieved_gflops": 100.0,
              "peak_gflops": 300.0, "fraction_of_peak": 1 / 3,
              "training": {"pipeline_patches_per_second": 5000.0, "train_step_patches_per_second": 40.0}}
    text = run_bench.markdown(report)
    # Gain over CBM3D on its 2 images: (32.5 - 31.25), not the mean over all 3 of ours.
    assert "30x faster than CBM3D at +1.25 dB on Kodak24 (2 images)" in text, text
    assert "33% of the nominal fp32 peak" in text
    assert "TFLite int8 vs Keras fp32, same images: Kodak24 -0.133 dB" in text
