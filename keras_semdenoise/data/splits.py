"""Split names with a slice, tfds-style: ``NAME`` or ``NAME[a:b]``, one parser for every split reader.

The slice is taken from the split's fixed order (``data.tasks`` reads folder splits in one seeded
permutation; ``data.packed`` keeps that order), so ``train[:-5000]`` and ``train[-5000:]`` are disjoint
and together the whole of ``train``: CIFAR-10, which has only train and test folders, gets a validation
split without touching the test split. Bounds are ints (negative counts from the end) or percentages
(``train[:90%]``, rounded to the nearest image as tfds does); either may be left out. Several splits joined
by ``+`` (``train+val``) are read one after the other as one (``data.sources.load_split``). No heavy imports.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^(?P<base>[^\[\]]+?)(?:\[(?P<start>[^\[\]:]*):(?P<stop>[^\[\]:]*)\])?$")
_BOUND = re.compile(r"^(?P<value>-?\d+)(?P<percent>%?)$")
FORMAT = "NAME or NAME[a:b] with a and b ints (negative from the end) or percentages, e.g. train[:-5000], train[:90%]"


def parse(split: str) -> tuple[str, tuple[str, str] | None]:
    """``"train[-5000:]"`` -> ``("train", ("-5000", ""))``; ``"val"`` -> ``("val", None)``.

    Raises:
        ValueError: a name that is not ``FORMAT``.
    """
    match = _NAME.match(split.strip()) if isinstance(split, str) else None
    bounds = (match["start"].strip(), match["stop"].strip()) if match and match["start"] is not None else None
    if not match or any(b and not _BOUND.match(b) for b in bounds or ()):
        raise ValueError(f"split {split!r} is malformed: use {FORMAT}")
    return match["base"].strip(), bounds


def union_parts(split: str) -> list[str]:
    """The splits a union names, tfds-style: ``"train+val"`` -> ``["train", "val"]``, ``"train[:-30]+val"`` ->
    ``["train[:-30]", "val"]``; a single split gives itself. Each part is checked as ``parse`` checks it.

    Raises:
        ValueError: an empty part, a malformed one, or a part named twice.
    """
    parts = [part.strip() for part in split.split("+")] if isinstance(split, str) else [split]
    for part in parts:
        if not part:
            raise ValueError(f"split {split!r} has an empty part: use NAME+NAME, each {FORMAT}")
        parse(part)
    if len(set(parts)) < len(parts):
        raise ValueError(f"split {split!r} names a part twice")
    return parts


def overlap(first: str, second: str) -> bool:
    """Whether two split names (unions allowed) may hold the same images: a part of each on the same base split,
    unless both are slices of it (slices are taken apart by the caller's choice, e.g. train[:-5000] and
    train[-5000:])."""
    return any(a[0] == b[0] and (a[1] is None or b[1] is None)
               for a in map(parse, union_parts(first)) for b in map(parse, union_parts(second)))


def check_validation(train_split: str, val_split: str | None) -> None:
    """Raises ValueError for a validation split that is (or holds) a test split or may hold training images.

    Test sets are for reporting only; a validation split is held out of training, e.g. ``train[-5000:]``
    with ``train[:-5000]`` for training.
    """
    if not val_split:  # None, or an empty flag: no validation split
        return
    if any(base_name(part) == "test" for part in union_parts(val_split)):
        raise ValueError(f"val_split {val_split!r} is a test split: test sets are for reporting only; "
                         "validate on a split held out of training (e.g. 'train[-5000:]' with "
                         "--train_split='train[:-5000]')")
    if overlap(train_split, val_split):
        raise ValueError(f"val_split {val_split!r} and train_split {train_split!r} share images: "
                         "slice the split apart (e.g. 'train[:-5000]' and 'train[-5000:]')")


def base_name(split: str) -> str:
    """The split a sliced name is taken from: ``"train[:90%]"`` -> ``"train"``."""
    return parse(split)[0]


def _position(bound: str, count: int, split: str) -> int:
    """A bound as an index into ``count`` images (negative ones counted from the end)."""
    match = _BOUND.match(bound)
    value = int(match["value"])
    limit = 100 if match["percent"] else count
    if abs(value) > limit:
        unit = "%" if match["percent"] else f" (the split has {count} images)"
        raise ValueError(f"split {split!r}: bound {bound} is beyond {limit}{unit}")
    if match["percent"]:  # nearest image, halves up, symmetric for negative bounds
        value = (1 if value >= 0 else -1) * int(abs(value) * count / 100 + 0.5)
    return value + count if value < 0 else value


def indices(split: str, count: int) -> range:
    """The positions, in the base split's fixed order, of the images ``split`` selects out of ``count``.

    Raises:
        ValueError: a malformed name, a bound beyond the split, or a slice that selects no image.
    """
    _, bounds = parse(split)
    if bounds is None:
        return range(count)
    start, stop = (_position(b, count, split) if b else default for b, default in zip(bounds, (0, count)))
    if stop <= start:
        raise ValueError(f"split {split!r} selects no images (positions {start} to {stop} of {count})")
    return range(start, stop)
