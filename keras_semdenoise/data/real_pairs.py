"""The real-noise sets of ``<data root>/realnoise/`` (see ``data/MANIFEST.md``): file lists only.

Nam25 and PolyU100 are pairs of a real noisy photo and its ground truth (the mean of many shots);
RNI15 is 15 real noisy photos without ground truth. Research use only: never shipped in the package.
"""

from __future__ import annotations

import os

from keras_semdenoise import imageio

PAIRED_SETS = ("Nam25", "PolyU100")
UNPAIRED_SETS = ("RNI15",)


def _set_folder(root: str, name: str, known: tuple[str, ...], kind: str) -> str:
    """``<root>/realnoise/<name>``, checked: a known set of this kind, and present."""
    if name not in known:
        raise ValueError(f"unknown {kind} real-noise set {name!r} (one of {', '.join(known)})")
    folder = os.path.join(root, "realnoise", name)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"real-noise set not found: {folder} (see data/MANIFEST.md)")
    return folder


def pairs(root: str, name: str, limit: int = 0) -> list[tuple[str, str, str]]:
    """``[(image id, noisy path, ground-truth path)]`` of a paired set, in file-name order.

    Args:
        root: the data root (the folder holding ``realnoise/``).
        name: ``"Nam25"`` (``noisy/NN_noise.png`` + ``gt/NN_gt.png``) or ``"PolyU100"``
            (``X_real.JPG`` + ``X_mean.JPG``).
        limit: keep only the first ``limit`` pairs (0: all).

    Raises:
        ValueError: an unknown set name.
        FileNotFoundError: the set's folder is missing.
    """
    folder = _set_folder(root, name, PAIRED_SETS, "paired")
    if name == "Nam25":
        noisy = imageio.list_image_files(os.path.join(folder, "noisy"))
        found = [
            (
                os.path.basename(p).split("_")[0],
                p,
                os.path.join(folder, "gt", os.path.basename(p).replace("_noise", "_gt")),
            )
            for p in noisy
        ]
    else:
        noisy = [p for p in imageio.list_image_files(folder) if p.endswith("_real.JPG")]
        found = [(os.path.basename(p)[: -len("_real.JPG")], p, p.replace("_real.JPG", "_mean.JPG")) for p in noisy]
    return found[:limit] if limit else found


def photos(root: str, name: str = "RNI15") -> list[tuple[str, str]]:
    """``[(image id, path)]`` of an unpaired set (noisy photos only), in file-name order.

    Raises:
        ValueError: an unknown set name.
        FileNotFoundError: the set's folder is missing.
    """
    folder = _set_folder(root, name, UNPAIRED_SETS, "unpaired")
    return [(os.path.splitext(os.path.basename(p))[0], p) for p in imageio.list_image_files(folder)]
