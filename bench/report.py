"""``BENCHMARKS.md`` from one ``bench.run_bench`` result: speed and PSNR table, peaks, targets, warnings."""

from __future__ import annotations

import os

import numpy as np

# A 1-minute load average above this (runnable processes, whole machine) before the run, or above the
# bench's own load (one runnable thread per core) plus this after it, marks the run as taken on a busy
# machine: its times are then upper bounds, and the report says so at the top.
BUSY_LOAD = 0.5
# The targets of issue #14, checked in every report.
TARGETS = {"bf16_vs_cbm3d": 45.0, "bf16_loss_db": 0.02, "int8_loss_db": 0.2}
FP32, BF16, CBM3D = "Keras fp32 (graph)", "Keras bf16 (graph)", "CBM3D"


def gain(ours: dict, other: dict, set_name: str) -> tuple[float, int] | None:
    """Mean PSNR of ``ours`` minus ``other`` on the images of ``set_name`` both ran, and how many."""
    mine, theirs = ours["sets"].get(set_name), other["sets"].get(set_name)
    if not mine or not theirs:
        return None
    common = [n for n in theirs["per_image"] if n in mine["per_image"]]
    if not common:
        return None
    return float(np.mean([mine["per_image"][n] - theirs["per_image"][n] for n in common])), len(common)


def _time(timing: dict) -> str:
    return f"{timing['median']:.3f} ({timing['min']:.3f}-{timing['max']:.3f})"


def _fastest(methods: dict, precision: str) -> str | None:
    names = [n for n, m in methods.items() if m["precision"] == precision and m["sets"]]
    return min(names, key=lambda n: methods[n]["time"]["median"]) if names else None


def markdown(result: dict) -> str:
    methods = result["methods"]
    sets = list(dict.fromkeys(s for m in methods.values() for s in m["sets"]))
    base = methods[CBM3D]
    cores = result.get("cores") or os.cpu_count() or 1
    busy = result["load_before"][0] > BUSY_LOAD or result["load_after"][0] > cores + BUSY_LOAD
    lines = [
        "# Benchmarks",
        "",
        f"One `make bench` run. Machine: {result['machine']}; CPU: {result['cpu']}.",
        f"TensorFlow {result['tensorflow']}, Keras {result['keras']}. Model `{result['model']}`, sigma "
        f"{result['sigma']:g}. {result['protocol']}.",
        "",
        f"Load average (1 min) before {result['load_before'][0]:.2f}, after {result['load_after'][0]:.2f} "
        f"(the bench itself keeps about {cores} cores busy).",
    ]
    if busy:
        lines.append(
            f"**Warning: the machine was busy (load above {BUSY_LOAD} before, or above {cores} + "
            f"{BUSY_LOAD} after); the times below are upper bounds. Re-run `make bench` on an idle "
            "machine.**"
        )
    lines += [
        "",
        f"Seconds per megapixel: median of {result['repeats']} timed passes (min-max) over the first "
        f"{result['time_images']} images of each set, the same images for every method. PSNR over all "
        "images (count in brackets); CBM3D's PSNR is on the timed images, and 'vs CBM3D' compares "
        "ours with it on those same images.",
        "",
        "| method | precision | "
        + " | ".join(f"PSNR {s} (dB)" for s in sets)
        + " | s / megapixel | speed vs CBM3D | PSNR vs CBM3D |",
        "| --- |" + " --- |" * (len(sets) + 4),
    ]
    for name, method in methods.items():
        cells = [
            f"{method['sets'][s]['psnr']:.2f} ({len(method['sets'][s]['per_image'])})" if s in method["sets"] else ""
            for s in sets
        ]
        gains = [g for g in (gain(method, base, s) for s in sets) if g] if name != CBM3D else []
        versus = ", ".join(f"{g[0]:+.2f} dB ({g[1]})" for g in gains)
        lines.append(
            f"| {name} | {method['precision']} | " + " | ".join(cells) + f" | {_time(method['time'])} | "
            f"{base['time']['median'] / method['time']['median']:.1f}x | {versus} |"
        )
    lines += [
        "",
        "## Peak rate per precision",
        "",
        "Nominal: cores x clock x operations per cycle of the detected core (`bench/peaks.py`; the clock "
        "is cpuinfo's, and cores that boost run above it). Measured: "
        "one large matrix product on this machine (median GOPS of the runs, min-max). Achieved: the "
        f"model's {result['flops_per_pixel'] / 1e6:.3f} MFLOP per pixel (convolutions, multiply and add "
        "counted) times pixels per second of the fastest method of that precision.",
        "",
        "| precision | nominal GOPS | measured GOPS | measured with | achieved GOPS (method) | % of measured "
        "| % of nominal |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    if result["peaks"].get("measured_note"):
        lines.insert(len(lines) - 2, f"Measured peaks: {result['peaks']['measured_note']}.\n")
    measured, nominal = result["peaks"]["measured"], result["peaks"]["nominal"]
    for precision in ("fp32", "bf16", "int8"):
        fastest = _fastest(methods, precision)
        achieved = result["flops_per_pixel"] / methods[fastest]["time"]["median"] / 1e3 if fastest else None
        rate = measured[precision]
        lines.append(
            f"| {precision} | {nominal[precision]:.0f} | {rate['median']:.0f} ({rate['min']:.0f}-"
            f"{rate['max']:.0f}) | {measured['how'][precision]} | "
            + (
                f"{achieved:.1f} ({fastest}) | {100 * achieved / rate['median']:.0f}% | "
                f"{100 * achieved / nominal[precision]:.0f}% |"
                if fastest
                else "| | |"
            )
        )
    lines += ["", "## Targets (issue #14)", ""] + targets(result, sets)
    lines += [
        "",
        "## Other figures",
        "",
        f"- Model cost: {result['flops_per_pixel'] / 1e6:.3f} MFLOP per pixel (DnCNN architecture: "
        f"{result['dncnn_flops_per_pixel'] / 1e6:.3f}).",
    ]
    for name, method in methods.items():
        if name not in (FP32, CBM3D) and method["sets"]:
            losses = [f"{s} {g[0]:+.3f} dB" for s in sets if (g := gain(method, methods[FP32], s))]
            lines.append(f"- {name} vs Keras fp32, same images: {', '.join(losses)}.")
    if "training" in result:
        lines.append(
            f"- Training (fp32, batch 32 of 48x48): input pipeline alone "
            f"{result['training']['pipeline_patches_per_second']:.0f} patches/s, training step "
            f"{result['training']['train_step_patches_per_second']:.0f} patches/s."
        )
    memory = result.get("tiled_24mp")
    if memory and "error" not in memory:
        lines.append(
            f"- Tiled {memory['precision']} inference of a 24-megapixel image: {memory['seconds']:.0f} s, "
            f"peak memory {memory['peak_rss_gib']:.2f} GiB (process RSS)."
        )
    return "\n".join(lines)


def targets(result: dict, sets: list[str]) -> list[str]:
    """One line per target: the measured figure and whether it is met."""
    methods = result["methods"]
    mark = {True: "met", False: "NOT met"}
    lines = []
    if BF16 in methods:
        ratio = methods[CBM3D]["time"]["median"] / methods[BF16]["time"]["median"]
        lines.append(
            f"- bf16 at least {TARGETS['bf16_vs_cbm3d']:g}x faster than CBM3D: {ratio:.1f}x, "
            f"{mark[ratio >= TARGETS['bf16_vs_cbm3d']]}."
        )
        losses = [g[0] for s in sets if (g := gain(methods[BF16], methods[FP32], s))]
        worst = -min(losses) if losses else float("nan")
        lines.append(
            f"- bf16 loses at most {TARGETS['bf16_loss_db']} dB against fp32: worst set "
            f"{worst:+.3f} dB lost, {mark[worst <= TARGETS['bf16_loss_db']]}."
        )
    int8 = _fastest(methods, "int8")
    if int8 and BF16 in methods:
        ratio = methods[BF16]["time"]["median"] / methods[int8]["time"]["median"]
        losses = [g[0] for s in sets if (g := gain(methods[int8], methods[FP32], s))]
        worst = -min(losses) if losses else float("nan")
        lines.append(
            f"- int8 faster than bf16 with at most {TARGETS['int8_loss_db']} dB lost: fastest int8 ({int8}) is "
            f"{ratio:.2f}x the speed of bf16, {worst:+.3f} dB lost; "
            f"{mark[ratio > 1.0 and worst <= TARGETS['int8_loss_db']]}."
        )
    return lines
