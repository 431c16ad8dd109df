"""How fast a shipped model's validation curve still rises: its gain per doubling of pixels seen over its whole
lineage (``training.curves.load_chain``), and each unmet target priced in doublings, step-equivalents and hours at
the model's fastest run (``curve_slopes`` writes the page)."""

from __future__ import annotations

import math

from keras_semdenoise.training import runs
from keras_semdenoise.training.curves import PAPER_STEP_PIXELS, _read_run, load_chain, step_pixels

# The line for a curve that has "gone flat": under this many dB of validation PSNR per doubling of the
# pixels seen.
FLAT_DB_PER_DOUBLING = 0.05


def fastest_rate(spec: str) -> float | None:
    """The fastest training of a ``load_chain`` spec's runs, in step-equivalents (32 x 48x48) per second of
    training (``runs.steps_per_second``; None where no run timed two checkpoints)."""
    rates = []
    for part in spec.split("+"):
        history, config, _, _ = _read_run(part.lstrip("~").partition("@")[0])
        rate = runs.steps_per_second(history)
        if rate:
            rates.append(rate * step_pixels(config) / PAPER_STEP_PIXELS)
    return max(rates, default=None)


def gain_per_doubling(chain: list[tuple[list[float], list[float], dict, bool]], last_runs: int | None = None) -> dict:
    """How fast a chain (``load_chain``) still rises: dB of validation PSNR per doubling of the pixels seen, from
    the first checkpoint of its last ``last_runs`` runs (all where None; a window starting at a run evaluated at
    other noise levels starts at the next one drawn) to the best checkpoint of its last run (the shipped one).

    Returns ``{"from_x", "from_psnr", "to_x", "to_psnr", "doublings", "db_per_doubling", "runs"}``, x in steps of
    32 x 48x48 (``PAPER_STEP_PIXELS``). Raises ValueError where the window does not span pixels (starts at 0 or
    ends where it starts) or its last run is not drawn.
    """
    if not chain or not chain[-1][3]:
        raise ValueError("the chain's last run must be one evaluated at the chain's own levels")
    window = chain[-last_runs:] if last_runs else chain
    while not window[0][3]:
        window = window[1:]
    first_x, first_values = window[0][0], window[0][1]
    start = next((i for i, x in enumerate(first_x) if x > 0), None)
    if start is None:
        raise ValueError("the window's first run has no checkpoint past zero pixels")
    x_last, values_last, _, _ = window[-1]
    best = max(range(len(values_last)), key=values_last.__getitem__)
    from_x, from_psnr, to_x, to_psnr = first_x[start], first_values[start], x_last[best], values_last[best]
    if to_x <= from_x:
        raise ValueError(f"the window ends at {to_x:g} step-equivalents, not past its start ({from_x:g})")
    doublings = math.log2(to_x / from_x)
    return {
        "from_x": from_x,
        "from_psnr": from_psnr,
        "to_x": to_x,
        "to_psnr": to_psnr,
        "doublings": doublings,
        "db_per_doubling": (to_psnr - from_psnr) / doublings,
        "runs": len(window),
    }


def doublings_to_gain(gain_db: float, db_per_doubling: float) -> float:
    """Doublings of the pixels seen that a curve rising ``db_per_doubling`` needs to gain ``gain_db`` (0 where
    nothing is missing; inf where the curve does not rise)."""
    if gain_db <= 0:
        return 0.0
    return gain_db / db_per_doubling if db_per_doubling > 0 else math.inf


def progress_report(
    chains: dict[str, str],
    shortfalls: dict[str, list[dict]] | None = None,
    windows: tuple[int, ...] = (1, 2, 0),
    decide_on: int = 2,
) -> dict:
    """How far each model's curve still climbs and what that says of its targets.

    ``chains``: ``{label: load_chain spec}`` (e.g. from ``lineage``); ``shortfalls``: ``{label: rows}`` of
    ``experiments.probes.targets.shortfalls``. Per model: the pixels seen and validation PSNR of the shipped checkpoint,
    ``gain_per_doubling`` over the last ``windows`` runs (0: the whole chain), whether the curve is flat (the
    window of ``decide_on`` runs under ``FLAT_DB_PER_DOUBLING``), and per unmet target the doublings of pixels
    seen it needs at that window's slope, the step-equivalents (32 x 48x48) that makes in all, and the hours of
    training that are at the fastest run of the chain (``fastest_rate``).
    """
    report = {"flat_db_per_doubling": FLAT_DB_PER_DOUBLING, "decide_on_runs": decide_on, "models": {}}
    for label, spec in chains.items():
        chain = load_chain(spec)
        slopes = {str(w): gain_per_doubling(chain, w or None) for w in windows}
        slope = gain_per_doubling(chain, decide_on or None)
        rate = fastest_rate(spec)
        targets = []
        for row in (shortfalls or {}).get(label, []):
            doublings = doublings_to_gain(row["short_by"], slope["db_per_doubling"])
            total = slope["to_x"] * 2**doublings if math.isfinite(doublings) else math.inf
            hours = (total - slope["to_x"]) / rate / 3600 if rate and math.isfinite(total) else None
            targets.append(
                {
                    **row,
                    "doublings": doublings,
                    "step_equivalents": total,
                    "hours_at_fastest": hours if row["short_by"] > 0 else 0.0,
                }
            )
        report["models"][label] = {
            "spec": spec,
            "seen": slope["to_x"],
            "validation_psnr": slope["to_psnr"],
            "slopes": slopes,
            "fastest_step_equivalents_per_second": rate,
            "flat": slope["db_per_doubling"] < FLAT_DB_PER_DOUBLING,
            "targets": targets,
        }
    return report


def _number(value: float, digits: int = 0) -> str:
    return "never at this slope" if not math.isfinite(value) else f"{value:,.{digits}f}"


def progress_markdown(report: dict) -> str:
    """``progress_report`` as two markdown tables: the slopes, and the unmet targets with what they need."""
    windows = list(next(iter(report["models"].values()))["slopes"]) if report["models"] else []
    name = {"0": "whole lineage", "1": "last run"}
    heads = [name.get(w, f"last {w} runs") for w in windows]
    lines = [
        "# How fast the shipped models' validation curves still rise",
        "",
        "Validation PSNR (held-out CBSD432 images) gained per doubling of the pixels seen, from the first checkpoint",
        "of a window of runs to the shipped (best) checkpoint of the last; pixels counted in steps of 32 x 48x48",
        '(a GPU step of 64 x 96x96 is 8). "Flat" is the issue\'s line: under '
        f"{report['flat_db_per_doubling']:g} dB per doubling over the last {report['decide_on_runs']} runs.",
        "",
        "| model | pixels seen (step-equivalents) | validation (dB) | "
        + " | ".join(f"dB/doubling, {h}" for h in heads)
        + " | flat | fastest run (step-equivalents/s) |",
        "|---|---:|---:|" + "---:|" * len(heads) + "---|---:|",
    ]
    for label, model in report["models"].items():
        cells = [
            f"{model['slopes'][w]['db_per_doubling']:.3f} ({model['slopes'][w]['doublings']:.2f} doublings)"
            for w in windows
        ]
        lines.append(
            f"| {label} | {model['seen']:,.0f} | {model['validation_psnr']:.3f} | "
            + " | ".join(cells)
            + f" | {'yes' if model['flat'] else 'no'} | "
            + (
                f"{model['fastest_step_equivalents_per_second']:.1f} |"
                if model["fastest_step_equivalents_per_second"]
                else "- |"
            )
        )
    unmet = [(label, t) for label, model in report["models"].items() for t in model["targets"] if t["short_by"] > 0]
    met = sum(1 for model in report["models"].values() for t in model["targets"] if t["short_by"] <= 0)
    lines += [
        "",
        f"## Targets not met ({len(unmet)}; {met} met)",
        "",
        f"At the slope of the last {report['decide_on_runs']} runs, the doublings of pixels seen each needs, "
        "the step-equivalents that makes in all, and the hours of training those take at the model's fastest "
        "run (test sets, whole images; `docs/evaluation/results.json`).",
        "",
        "| model | set | sigma | target | needed (dB) | measured (dB) | short by | doublings | "
        "step-equivalents | hours at fastest run |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, t in unmet:
        lines.append(
            f"| {label} | {t['set']} | {t['sigma']:g} | {t['target']} | {t['needed']:.3f} | "
            f"{t['measured']:.3f} | {t['short_by']:.3f} | {_number(t['doublings'], 1)} | "
            f"{_number(t['step_equivalents'])} | "
            + ("-" if t["hours_at_fastest"] is None else _number(t["hours_at_fastest"], 1))
            + " |"
        )
    return "\n".join(lines) + "\n"
