"""Filling a config dataclass from absl flags of the same names (one mapping for every entry point)."""

from __future__ import annotations

import dataclasses


def config_from_flags(config_class, flag_values, **overrides):
    """``config_class(**{field: FLAGS.field})`` for every field with a flag, then ``overrides``."""
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(config_class) if f.name in flag_values}
    values.update(overrides)
    return config_class(**values)
