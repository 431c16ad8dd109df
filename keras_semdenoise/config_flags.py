"""absl flags made from a config dataclass, and the dataclass filled back from them.

The dataclass is the one place a setting, its default, its help text and its allowed values are written::

    steps: int = setting(1000, "Training steps (batches).")
    top: str = setting("gap", "Classifier top: ...", choices=("gap", "fc"))

``define_flags(Config)`` defines one flag per field, of the same name, default and help; the flag's type
follows the field's annotation: ``bool`` -> ``DEFINE_bool``, ``int`` -> ``DEFINE_integer``, ``float`` ->
``DEFINE_float``, ``str`` with ``choices`` -> ``DEFINE_enum``, other ``str`` -> ``DEFINE_string``, a tuple
-> ``DEFINE_list`` (``--encoder_filters=128,128``). A field without a default is a required flag.
``config_from_flags(Config)`` reads them back, lists as tuples of the element type; ``entry_point(Config,
run)`` is a whole ``main`` for ``absl.app.run``.
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing

from absl import app, flags

# The flags defined here belong to the module that calls define_flags (absl lists a program's own flags
# in --help, the rest only in --helpfull).
flags.disclaim_key_flags()

# What a field's metadata may hold.
HELP = "help"
CHOICES = "choices"


def setting(default=dataclasses.MISSING, help: str = "", choices: tuple | None = None):  # noqa: A002 - absl's word
    """A dataclass field with its help text (and allowed values): ``dataclasses.field`` with metadata."""
    metadata = {HELP: help} if choices is None else {HELP: help, CHOICES: tuple(choices)}
    return dataclasses.field(default=default, metadata=metadata)


def _base_type(annotation):
    """``(type, element type)`` of an annotation: ``int | None`` -> ``(int, None)``, ``tuple[int, ...]``
    -> ``(tuple, int)``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is tuple:
        return tuple, typing.get_args(annotation)[0]
    return annotation, None


def field_types(config_class) -> dict:
    """``{field name: (type, element type)}`` of a config dataclass (see ``_base_type``)."""
    hints = typing.get_type_hints(config_class)
    return {f.name: _base_type(hints[f.name]) for f in dataclasses.fields(config_class)}


def field_default(field: dataclasses.Field):
    """A field's default, or None where it has none (a required setting)."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _field(config_class, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(config_class) if f.name == name)


def choices(config_class, name: str) -> tuple | None:
    """The values a field allows (its ``choices`` metadata), None for any."""
    return _field(config_class, name).metadata.get(CHOICES)


def help_text(config_class, name: str) -> str:
    """A field's help text (its ``help`` metadata)."""
    return _field(config_class, name).metadata.get(HELP, "")


def check_choices(config) -> None:
    """Raises ValueError for the first field of ``config`` whose value is not one of its ``choices``."""
    for field in dataclasses.fields(config):
        allowed = field.metadata.get(CHOICES)
        value = getattr(config, field.name)
        if allowed is not None and value not in allowed:
            raise ValueError(f"{field.name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


def _list_item(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def flag_args(config, names) -> list[str]:
    """The command-line flags that set ``config``'s fields ``names`` to their values, in that order: bools
    ``--name`` / ``--noname``, floats short (``--sigma=15``, ``--learning_rate=0.001``), lists comma-separated."""
    args = []
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool):
            args.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, tuple):
            args.append(f"--{name}={','.join(map(_list_item, value))}")
        else:
            args.append(f"--{name}={_list_item(value)}")
    return args


def changed_fields(config) -> list[str]:
    """The names of ``config``'s fields whose value is not the field's default (required fields included)."""
    return [
        field.name
        for field in dataclasses.fields(config)
        if field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
        or getattr(config, field.name) != field_default(field)
    ]


def define_flags(config_class, flag_values=flags.FLAGS, skip=(), **overrides) -> list[str]:
    """Defines one absl flag per field of ``config_class``; returns their names.

    Args:
        skip: field names that get no flag (the entry point fills them itself).
        **overrides: per field, a dict with any of ``default``, ``help``, ``required`` to use instead of
            what the dataclass says (e.g. a path the entry point resolves: ``data_dir={"required": False}``).
    """
    unknown = set(overrides) - {f.name for f in dataclasses.fields(config_class)}
    if unknown:
        raise ValueError(f"overrides for fields {config_class.__name__} does not have: {sorted(unknown)}")
    kinds = field_types(config_class)
    names = []
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        spec = {
            "default": field_default(field),
            "help": field.metadata.get(HELP, f"See {config_class.__name__}.{field.name}."),
            "required": field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING,
        }
        spec.update(overrides.get(field.name, {}))
        default, kind, allowed = spec["default"], kinds[field.name][0], field.metadata.get(CHOICES)
        common = dict(flag_values=flag_values, required=spec["required"])
        if kind is bool:
            flags.DEFINE_bool(field.name, default, spec["help"], **common)
        elif kind is int:
            flags.DEFINE_integer(field.name, default, spec["help"], **common)
        elif kind is float:
            flags.DEFINE_float(field.name, default, spec["help"], **common)
        elif kind is tuple:
            default = None if default is None else [_list_item(v) for v in default]
            flags.DEFINE_list(field.name, default, spec["help"], **common)
        elif allowed is not None:
            flags.DEFINE_enum(field.name, default, list(allowed), spec["help"], **common)
        else:
            flags.DEFINE_string(field.name, default, spec["help"], **common)
        names.append(field.name)
    return names


def config_from_flags(config_class, flag_values=flags.FLAGS, **values):
    """``config_class`` from the flags of its fields' names (lists as tuples), then ``values`` over them."""
    kinds = field_types(config_class)
    read = {}
    for field in dataclasses.fields(config_class):
        if field.name not in flag_values or field.name in values:
            continue
        value = flag_values[field.name].value
        kind, element = kinds[field.name]
        if kind is tuple and value is not None:
            value = tuple(element(v) if element in (int, float) else v for v in value)
        read[field.name] = value
    return config_class(**{**read, **values})


def entry_point(config_class, run, values=None, flag_values=flags.FLAGS):
    """A ``main(argv)`` for ``absl.app.run``: ``run(config_class from the flags)`` with INFO logging.

    Args:
        run: ``f(config)``, the work (training, evaluation).
        values: optional ``f() -> dict`` of fields the entry point fills itself (read after flag parsing).
    A ValueError or FileNotFoundError (what a user gave wrong) becomes absl's usage error: its message
    and the program's help, without a traceback.
    """

    def main(argv):
        del argv
        logging.getLogger().setLevel(logging.INFO)
        try:
            run(config_from_flags(config_class, flag_values, **(values() if values else {})))
        except (ValueError, FileNotFoundError) as error:
            raise app.UsageError(str(error)) from None

    return main
