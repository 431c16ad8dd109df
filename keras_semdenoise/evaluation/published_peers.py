"""The published peers (CDnCNN-B, FFDNet colour: ``models.published_peers``) loaded from their authors' files and
measured under our protocol (``denoising.evaluate``), beside the figures of a plain forward pass of each file.

The files live outside the package (their licence allows research use, not shipping): in ``peers_published/``
under the data root (``$SEMDENOISE_DATA_DIR`` or ``../shared/data``), or a folder given.
"""

from __future__ import annotations

import functools
import os

from keras_semdenoise import atomic
from keras_semdenoise.data.roots import default_data_root
from keras_semdenoise.evaluation import denoising
from keras_semdenoise.models import published_peers

PEERS_FOLDER = "peers_published"
# Row names of the tables, per published peer.
TITLES = {"cdncnn_b": "CDnCNN-B (published weights)", "ffdnet_color": "FFDNet colour (published weights)"}
# Mean RGB PSNR (dB) of a plain TensorFlow forward pass of each file, float Gaussian noise, output clipped and
# rounded to 8 bits, whole images (shared/data/peers_published/SOURCE.md): {peer: {set: {sigma_255: dB}}}.
REFERENCE_PSNR = {
    "cdncnn_b": {"CBSD68": {15: 33.88, 25: 31.22, 50: 27.92}, "Kodak24": {15: 34.60, 25: 32.14, 50: 28.95}},
    "ffdnet_color": {"CBSD68": {15: 33.87, 25: 31.20, 50: 27.95}, "Kodak24": {15: 34.75, 25: 32.25, 50: 29.10}},
}
# How close to the reference a conversion must come (dB): the noise draws differ, nothing else should.
TOLERANCE_DB = 0.05
# Whole images in one call (Kodak24 is 768 x 512), as the reference forward pass: no tiling seams.
WHOLE_IMAGE_TILE = 4096


def peers_folder(folder: str | None = None) -> str:
    """``folder``, or ``peers_published/`` under the data root."""
    return folder or os.path.join(default_data_root(), PEERS_FOLDER)


def load_published_peer(name: str, folder: str | None = None, noise_level_255: float = 25.0):
    """Published peer ``name`` (``cdncnn_b`` or ``ffdnet_color``) with its authors' weights, from ``folder``
    (default ``peers_folder()``). FFDNet is built for ``noise_level_255`` (0..255); CDnCNN-B is blind.

    The model maps ``(N, H, W, 3)`` float32 noisy images (clean in [0, 1]) to unclipped estimates.

    Raises:
        ValueError: an unknown name.
        FileNotFoundError: the authors' file is not in the folder.
    """
    if name not in published_peers.PUBLISHED_FILES:
        raise ValueError(f"unknown published peer {name!r}: use one of {', '.join(published_peers.PUBLISHED_FILES)}")
    path = os.path.join(peers_folder(folder), published_peers.PUBLISHED_FILES[name])
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {path}: put the authors' file there or set $SEMDENOISE_DATA_DIR")
    return published_peers.published_peer_from_file(name, path, noise_level_255)


@functools.cache
def _cached_peer(name: str, folder: str, noise_level_255: float):
    return load_published_peer(name, folder, noise_level_255)


def published_peer_methods(folder: str | None = None, names=tuple(TITLES)) -> dict:
    """``{row title: sigma -> Method}`` for ``denoising.evaluate``: each peer on whole images, FFDNet given the
    true noise level; identified by the file's hash, so a new file is measured afresh."""
    folder = peers_folder(folder)
    methods = {}
    for name in names:
        path = os.path.join(folder, published_peers.PUBLISHED_FILES[name])

        def factory(sigma, name=name, path=path):
            level = float(sigma) if name == "ffdnet_color" else 25.0
            model = _cached_peer(name, folder, level)
            method = denoising.denoiser_method(model, tile_size=WHOLE_IMAGE_TILE)
            return denoising.with_identity(method, denoising.file_identity(path))

        methods[TITLES[name]] = factory
    return methods


def comparison_rows(state: dict) -> list[dict]:
    """``[{"peer", "set", "sigma", "ours", "reference", "difference", "within"}]``: every measured cell of
    ``state`` (``denoising.evaluate``'s) that has a reference figure; PSNR in dB."""
    rows = []
    for peer, title in TITLES.items():
        for set_name, by_sigma in REFERENCE_PSNR[peer].items():
            for sigma, reference in by_sigma.items():
                cell = state.get("results", {}).get(set_name, {}).get(f"{sigma:g}", {}).get(title)
                if not cell or not cell.get("count"):
                    continue
                ours = cell["mean_psnr"]
                rows.append(
                    dict(
                        peer=title,
                        set=set_name,
                        sigma=sigma,
                        images=cell["count"],
                        ours=round(ours, 4),
                        reference=reference,
                        difference=round(ours - reference, 4),
                        within=abs(ours - reference) <= TOLERANCE_DB,
                    )
                )
    return rows


def comparison_markdown(rows: list[dict]) -> str:
    """Markdown table of ``comparison_rows``."""
    lines = [
        f"| peer | set | sigma | images | ours (dB) | reference (dB) | difference | within {TOLERANCE_DB} dB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['peer']} | {r['set']} | {r['sigma']} | {r['images']} | {r['ours']:.2f} | {r['reference']:.2f} | "
            f"{r['difference']:+.3f} | {'yes' if r['within'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def measure_published_peers(datasets: dict, sigmas, out: str, folder: str | None = None, progress: bool = True):
    """Measures both peers on ``datasets`` (``tables.load_sets``'s) at ``sigmas`` (resumable through
    ``<out>/results.json``), adds the comparison with the reference figures to it and writes ``<out>/results.md``.

    Returns the comparison rows (``comparison_rows``).
    """
    os.makedirs(out, exist_ok=True)
    results_path = os.path.join(out, "results.json")
    methods = published_peer_methods(folder)
    state = denoising.evaluate(datasets, [float(s) for s in sigmas], methods, results_path, False, 0, progress)
    rows = comparison_rows(state)
    state["reference"] = {
        "what": "a plain TensorFlow forward pass of each authors' file (shared/data/peers_published/SOURCE.md)",
        "tolerance_db": TOLERANCE_DB,
        "comparison": rows,
    }
    atomic.write_json(results_path, state)
    text = [
        "# Published peers measured here",
        "",
        "CDnCNN-B (`cszn/DnCNN` `GD_Color_Blind.mat`, blind) and FFDNet colour (`cszn/FFDNet` `FFDNet_color.mat`, "
        "given the true noise level), their authors' weights loaded into Keras (`keras_semdenoise.models."
        "published_peers`) and measured with our evaluation loop, whole images. Written by "
        "`python -m experiments.peers_published.measure`.",
        "",
        f"## Against a plain forward pass of each file (must agree within {TOLERANCE_DB} dB)",
        "",
        comparison_markdown(rows),
        "## Tables",
        "",
        denoising.markdown_tables(state, per_image=False),
    ]
    atomic.write_text(os.path.join(out, "results.md"), "\n".join(text))
    return rows
