"""The shipped zoo's quality targets (issue 12's "done when") and how far the measured models are from them.

Three kinds, all on whole test images with seeded noise (``tools/evaluate_denoiser``'s ``results.json``):
- ``paper``: a per-sigma model reaches the paper's Tables II/III (``paper.PSNR``, sigma 25 / 35 / 50);
- ``CBM3D + 0.3``: a per-sigma model beats CBM3D, measured on the same images, by ``CBM3D_MARGIN_DB``;
- ``per-sigma - 0.2``: the blind model is within ``BLIND_GAP_DB`` of the per-sigma model at ``BLIND_LEVELS``.
"""

from __future__ import annotations

from keras_semdenoise.evaluation import paper

CBM3D_MARGIN_DB = 0.3
BLIND_GAP_DB = 0.2
BLIND_LEVELS = (15, 25, 50)

# The method labels of the README's evaluation (``make evaluate``: ``tools/evaluate_denoiser`` with
# ``--methods noisy,cbm3d,proposed`` and the blind model by this name).
PROPOSED = "Proposed (ours)"
BLIND = "Proposed, blind (ours)"
CBM3D = "CBM3D"


def _mean(state: dict, data_set: str, sigma: float, method: str) -> float | None:
    cell = state["results"].get(data_set, {}).get(f"{sigma:g}", {}).get(method)
    return None if cell is None else cell.get("mean_psnr")


def shortfalls(state: dict, sigma: float | None) -> list[dict]:
    """The targets of one model and how far it is from each: the per-sigma model at ``sigma``, or the blind model
    where ``sigma`` is None. ``state`` is an evaluation's ``results.json`` (PSNR in dB).

    Returns one row per data set and target, ``{"set", "sigma", "target", "needed", "measured", "short_by"}``
    (``short_by`` <= 0: met), for every cell the state holds; targets whose cells are missing are left out.
    """
    rows = []
    for data_set in state["results"]:
        if sigma is None:
            levels = [
                (level, _mean(state, data_set, level, PROPOSED), _mean(state, data_set, level, BLIND))
                for level in BLIND_LEVELS
            ]
            needed = [
                (level, f"per-sigma - {BLIND_GAP_DB:g}", None if ours is None else ours - BLIND_GAP_DB, blind)
                for level, ours, blind in levels
            ]
        else:
            ours, cbm3d = _mean(state, data_set, sigma, PROPOSED), _mean(state, data_set, sigma, CBM3D)
            reported = paper.PSNR.get(data_set, {}).get("Proposed", {}).get(int(sigma))
            needed = [
                (sigma, "paper", reported, ours),
                (sigma, f"CBM3D + {CBM3D_MARGIN_DB:g}", None if cbm3d is None else cbm3d + CBM3D_MARGIN_DB, ours),
            ]
        for level, target, value, measured in needed:
            if value is not None and measured is not None:
                rows.append(
                    {
                        "set": data_set,
                        "sigma": level,
                        "target": target,
                        "needed": value,
                        "measured": measured,
                        "short_by": value - measured,
                    }
                )
    return rows
