import numpy as np
import pytest

from bench import peaks, report, run_bench
from keras_semdenoise.models.denoiser import build_denoiser
from keras_semdenoise.models.peers import DnCNN

ZEN4_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9B14
cpu MHz\t\t: 2600.000
flags\t\t: fpu avx2 fma avx512f avx512_bf16 avx512_vnni
"""


def test_flops_per_pixel_of_the_official_model_and_dncnn():
    # PAPER.md: about 0.44 MFLOP per pixel for the official architecture.
    assert run_bench.conv_flops_per_pixel(build_denoiser()) == pytest.approx(0.44e6, rel=0.02)
    # DnCNN: 17 layers of 3x3 convs, 64 channels: 2 * 9 * (3*64 + 15*64*64 + 64*3) per pixel.
    expected = 2 * 9 * (3 * 64 + 15 * 64 * 64 + 64 * 3)
    assert run_bench.conv_flops_per_pixel(DnCNN()) == pytest.approx(expected, rel=1e-6)


def test_nominal_peaks_know_zen4_runs_avx512_on_256_bit_datapaths(monkeypatch):
    monkeypatch.setattr(peaks.os, "cpu_count", lambda: 2)
    info = peaks.cpu_info(ZEN4_CPUINFO)
    assert peaks.core_kind(info) == "AMD Zen 4"
    nominal = peaks.nominal_peaks(info)
    # 2 cores x 2.6 GHz x (32 fp32, 64 bf16, 128 int8 operations per cycle).
    assert nominal["fp32"] == pytest.approx(166.4) and nominal["bf16"] == pytest.approx(332.8)
    assert nominal["int8"] == pytest.approx(665.6)
    intel = peaks.cpu_info(ZEN4_CPUINFO.replace("AuthenticAMD", "GenuineIntel").replace("25", "6"))
    assert peaks.core_kind(intel) == "Intel AVX-512 + BF16/VNNI"


def test_measured_peaks_are_rates_with_a_spread():
    for rate in (
        peaks.matmul_tf("fp32", size=128, repeats=3),
        peaks.matmul_tf("bf16", size=128, repeats=3),
        peaks.matmul_tflite_int8(size=64, rows=16, repeats=3),
    ):
        assert 0 < rate["min"] <= rate["median"] <= rate["max"] < 1e5


def test_speed_is_the_median_of_passes_over_the_same_images():
    calls = []

    def method(x):
        calls.append(x.shape)
        return x

    sets = {"A": [(f"a{i}", np.zeros((100, 100, 3)), np.zeros((100, 100, 3))) for i in range(3)]}
    timing, outputs = run_bench.speed(method, sets, count=2, repeats=5)
    assert len(calls) == 2 + 2 * 5  # one warm-up pass, then 5 timed passes over the first 2 images
    assert timing["images"] == 2 and timing["megapixels"] == pytest.approx(0.02)
    assert timing["min"] <= timing["median"] <= timing["max"] and len(outputs) == 2


def _method(precision, per_image, seconds):
    return {
        "precision": precision,
        "time": {"median": seconds, "min": seconds * 0.9, "max": seconds * 1.2},
        "sets": {"Kodak24": {"psnr": float(np.mean(list(per_image.values()))), "per_image": per_image}},
    }


def _result(load=0.1, after=2.3):
    return {
        "machine": "m",
        "cpu": "c",
        "tensorflow": "t",
        "keras": "k",
        "model": "x.keras",
        "sigma": 25.0,
        "protocol": "p",
        "cores": 2,
        "load_before": [load, 0, 0],
        "load_after": [after, 0, 0],
        "repeats": 5,
        "time_images": 2,
        "methods": {
            "Keras fp32 (graph)": _method("fp32", {"a": 32.0, "b": 33.0, "c": 30.0}, 2.0),
            "Keras bf16 (graph)": _method("bf16", {"a": 32.0, "b": 33.0, "c": 29.99}, 1.0),
            "TFLite int8, 2 threads": _method("int8", {"a": 31.9, "b": 32.8, "c": 29.9}, 0.8),
            "CBM3D": _method("fp64", {"a": 31.0, "b": 31.5}, 60.0),
        },
        "peaks": {
            "nominal": {"fp32": 166.0, "bf16": 332.0, "int8": 664.0},
            "measured": {
                p: {"median": v, "min": v * 0.9, "max": v * 1.1}
                for p, v in (("fp32", 150.0), ("bf16", 250.0), ("int8", 350.0))
            }
            | {"how": {"fp32": "h32", "bf16": "h16", "int8": "h8"}},
        },
        "flops_per_pixel": 0.44e6,
        "dncnn_flops_per_pixel": 1.1e6,
    }


def test_report_gives_ratios_gains_fractions_and_targets_from_one_run():
    text = report.markdown(_result())
    assert "Warning" not in text
    # CBM3D vs bf16: 60 / 1 s per MP; gain on CBM3D's 2 images: (32.0 + 33.0) / 2 - 31.25.
    assert "| Keras bf16 (graph) | bf16 | 31.66 (3) | 1.000 (0.900-1.200) | 60.0x | +1.25 dB (2) |" in text, text
    # Achieved bf16: 0.44 MFLOP per pixel at 1 s per megapixel = 440 GFLOP/s (above the peaks: made-up times).
    assert "| bf16 | 332 | 250 (225-275) | h16 | 440.0 (Keras bf16 (graph)) | 176% | 133% |" in text
    assert "- bf16 at least 45x faster than CBM3D: 60.0x, met." in text
    assert "- bf16 loses at most 0.02 dB against fp32: worst set +0.003 dB lost, met." in text
    assert "fastest int8 (TFLite int8, 2 threads) is 1.25x the speed of bf16, +0.133 dB lost; met." in text
    assert "- TFLite int8, 2 threads vs Keras fp32, same images: Kodak24 -0.133 dB." in text


def test_report_warns_when_the_machine_was_busy_before_or_beyond_the_bench_s_own_load():
    assert "Warning: the machine was busy" in report.markdown(_result(load=1.7))
    assert "Warning: the machine was busy" in report.markdown(_result(after=3.2))
    assert "Warning" not in report.markdown(_result(load=0.3, after=2.4))  # 2 cores busy with the bench itself
