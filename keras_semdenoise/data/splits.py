"""Split names with a slice, tfds-style: ``NAME`` or ``NAME[a:b]``, one parser for every split reader.

The slice is taken from the split's fixed order (``data.tasks`` reads folder splits in one seeded
permutation; ``data.packed`` keeps that order), so ``train[:-5000]`` and ``train[-5000:]`` are disjoint
and together the whole of ``train``: CIFAR-10, which has only train and test folders, gets a validation
split without touching the test split. Bounds are ints (negative counts from the end) or percentages
(``train[:90%]``, rounded to the nearest image as tfds does); either may be left out. Several splits joined
by ``+`` (``train+val``) are read one after the other as one (``data.sources.load_split``).

A name filter in braces, before the slice, keeps the images whose file name starts with one of its prefixes,
or with ``!`` drops them: ``train{!0006R0}`` is CamVid's ``train`` without sequence 0006R0 and ``train{0006R0}``
is that sequence alone, a validation split of a sequence held out of training (CamVid's own ``val`` shares a
sequence with ``train``). The slice is then taken from the filtered images in the fixed order. No heavy imports.
"""

from __future__ import annotations

import re

_NAME = re.compile(
    r"^(?P<base>[^\[\]{}]+?)(?:\{(?P<filter>[^\[\]{}]*)\})?"
    r"(?:\[(?P<start>[^\[\]:]*):(?P<stop>[^\[\]:]*)\])?$"
)
_BOUND = re.compile(r"^(?P<value>-?\d+)(?P<percent>%?)$")
_PREFIX = re.compile(r"^[^\s,!+]+$")
FORMAT = (
    "NAME, NAME[a:b] with a and b ints (negative from the end) or percentages, or either with a file-name "
    "filter NAME{P,Q} (names starting with P or Q) or NAME{!P} (all but those), e.g. train[:-5000], "
    "train[:90%], train{!0006R0}"
)


def parse(split: str) -> tuple[str, tuple[str, str] | None]:
    """``"train[-5000:]"`` -> ``("train", ("-5000", ""))``; ``"val"`` -> ``("val", None)``.

    Raises:
        ValueError: a name that is not ``FORMAT``.
    """
    match = _match(split)
    return match["base"].strip(), _bounds(match)


def _match(split: str) -> re.Match:
    match = _NAME.match(split.strip()) if isinstance(split, str) else None
    if match:
        bounds, prefixes = _bounds(match), _prefixes(match)
        if all(_BOUND.match(b) for b in bounds or () if b) and (prefixes is None or prefixes[1]):
            return match
    raise ValueError(f"split {split!r} is malformed: use {FORMAT}")


def _bounds(match: re.Match) -> tuple[str, str] | None:
    return (match["start"].strip(), match["stop"].strip()) if match["start"] is not None else None


def _prefixes(match: re.Match) -> tuple[bool, tuple[str, ...]] | None:
    """``(dropped, prefixes)`` of the braces, None without; ``(…, ())`` for malformed braces."""
    if match["filter"] is None:
        return None
    text = match["filter"].strip()
    dropped = text.startswith("!")
    prefixes = tuple(p.strip() for p in text[dropped:].split(","))
    return dropped, (prefixes if all(_PREFIX.match(p) for p in prefixes) else ())


def name_filter(split: str) -> tuple[bool, tuple[str, ...]] | None:
    """The file-name filter of a split name: ``"train{!0006R0}"`` -> ``(True, ("0006R0",))`` (dropped),
    ``"val{0016E5,0001TP}"`` -> ``(False, ("0016E5", "0001TP"))`` (kept); None without braces."""
    return _prefixes(_match(split))


def kept(split: str, names) -> list[int]:
    """The positions of ``names`` (file names, in the split's fixed order) that ``split``'s name filter keeps,
    all of them without a filter. Raises ValueError where it keeps none."""
    chosen = name_filter(split)
    if chosen is None:
        return list(range(len(names)))
    dropped, prefixes = chosen
    positions = [i for i, name in enumerate(names) if name.startswith(prefixes) != dropped]
    if not positions:
        raise ValueError(
            f"split {split!r} keeps none of its {len(names)} images (file names such as {', '.join(sorted(names)[:3])})"
        )
    return positions


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
    unless their name filters keep apart (``train{!0006R0}`` and ``train{0006R0}``) or both are slices of the
    same filtered split (slices are taken apart by the caller's choice, e.g. train[:-5000] and train[-5000:])."""
    return any(_parts_overlap(a, b) for a in union_parts(first) for b in union_parts(second))


def _parts_overlap(first: str, second: str) -> bool:
    (base_a, bounds_a), (base_b, bounds_b) = parse(first), parse(second)
    if base_a != base_b:
        return False
    filter_a, filter_b = name_filter(first), name_filter(second)
    if _disjoint(filter_a, filter_b):
        return False
    if filter_a != filter_b:  # slices of differently filtered orders: not taken apart
        return True
    return bounds_a is None or bounds_b is None


def _disjoint(first, second) -> bool:
    """Whether two name filters keep no file name in common (None: no filter, keeps all)."""
    if first is None or second is None:
        return False
    (drop_a, a), (drop_b, b) = first, second
    covers = lambda kept, dropped: all(p.startswith(dropped) for p in kept)  # every kept name is dropped
    if not drop_a and not drop_b:
        return not any(p.startswith(q) or q.startswith(p) for p in a for q in b)
    if drop_a and drop_b:
        return False
    return covers(b, a) if drop_a else covers(a, b)


def check_validation(train_split: str, val_split: str | None) -> None:
    """Raises ValueError for a validation split that is (or holds) a test split or may hold training images.

    Test sets are for reporting only; a validation split is held out of training, e.g. ``train[-5000:]``
    with ``train[:-5000]`` for training.
    """
    if not val_split:  # None, or an empty flag: no validation split
        return
    if any(base_name(part) == "test" for part in union_parts(val_split)):
        raise ValueError(
            f"val_split {val_split!r} is a test split: test sets are for reporting only; "
            "validate on a split held out of training (e.g. 'train[-5000:]' with "
            "--train_split='train[:-5000]')"
        )
    if overlap(train_split, val_split):
        raise ValueError(
            f"val_split {val_split!r} and train_split {train_split!r} share images: "
            "slice the split apart (e.g. 'train[:-5000]' and 'train[-5000:]')"
        )


def base_name(split: str) -> str:
    """The split a sliced or filtered name is taken from: ``"train{!0006R0}[:90%]"`` -> ``"train"``."""
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
