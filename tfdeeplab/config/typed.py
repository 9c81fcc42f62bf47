"""Turn plain YAML data into the frozen schema dataclasses, checking every value.

Knows the handful of field types the schema uses (bool, int, float, str, tuples of
those, tuples of tuples, nested dataclasses, `X | None` for values a recipe may
leave to be derived, and `str | tuple[...]` for a named choice or explicit values)
and the metadata checks `choices`,
`minimum`, `length` and `item_length`. Every failure is a `SchemaError` whose key is
the dotted path of the offending value.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from typing import Any

from tfdeeplab.config.schema import SchemaError

# YAML 1.1 reads 5e-4 (no dot) as a string; recipes are allowed to write it.
_FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _scalar(value: Any, kind: type, key: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
            number = float(value)
        if number is not None:
            if not math.isfinite(number):  # YAML's .nan and .inf
                raise SchemaError(key, f"expected a finite number, got {value}")
            return number
    elif kind is str:
        if isinstance(value, str):
            return value
    raise SchemaError(key, f"expected {kind.__name__}, got {_describe(value)}")


def _optional_of(hint: Any) -> Any:
    """X for a hint `X | None`, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(others) == 1 and len(typing.get_args(hint)) == 2:
            return others[0]
    return None


def _name_or_list_of(hint: Any) -> Any:
    """The tuple hint of `str | tuple[...]` (a named choice or explicit values,
    as `train.class_weights`), else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        tuples = [arg for arg in args if typing.get_origin(arg) is tuple]
        if len(args) == 2 and str in args and len(tuples) == 1:
            return tuples[0]
    return None


def _convert(value: Any, hint: Any, key: str) -> Any:
    inner = _optional_of(hint)
    if inner is not None:
        return None if value is None else _convert(value, inner, key)
    listed = _name_or_list_of(hint)
    if listed is not None:
        return value if isinstance(value, str) else _convert(value, listed, key)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            raise SchemaError(key, f"expected a list, got {_describe(value)}")
        item_hint = typing.get_args(hint)[0]
        return tuple(
            _convert(item, item_hint, f"{key}[{i}]") for i, item in enumerate(value)
        )
    return _scalar(value, hint, key)


def _leaves(value: Any):
    if isinstance(value, tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _check_metadata(value: Any, metadata: typing.Mapping, key: str) -> None:
    if value is None:  # an optional value left to be derived
        return
    if "length" in metadata and len(value) != metadata["length"]:
        raise SchemaError(
            key,
            f"expected {metadata['length']} values, got {len(value)}: {list(value)}",
        )
    for i, item in enumerate(value if "item_length" in metadata else ()):
        if len(item) != metadata["item_length"]:
            raise SchemaError(
                f"{key}[{i}]",
                f"expected {metadata['item_length']} values, got {list(item)}",
            )
    for leaf in _leaves(value):
        if "choices" in metadata and leaf not in metadata["choices"]:
            options = ", ".join(
                repr(c) if isinstance(c, str) else str(c) for c in metadata["choices"]
            )
            raise SchemaError(key, f"expected one of {options}, got {leaf!r}")
        if "minimum" in metadata and leaf < metadata["minimum"]:
            raise SchemaError(
                key, f"expected a value >= {metadata['minimum']}, got {leaf}"
            )


def from_dict(cls: type, data: Any, prefix: str = "") -> Any:
    """Build schema dataclass `cls` from a mapping, checking keys, types and values.

    Args:
        cls: type. A frozen dataclass from `tfdeeplab.config.schema`.
        data: mapping or None. The YAML data for it; missing keys take defaults.
        prefix: str. Dotted path of `data` within the recipe, for error messages.

    Returns:
        An instance of `cls`.

    Raises:
        SchemaError: for an unknown key, a wrong type or a value out of range.

    Example:
        >>> from_dict(ModelConfig, {"output_stride": 8}).output_stride
        8
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise SchemaError(
            prefix or "<top>", f"expected a mapping, got {_describe(data)}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in data:
        if name not in fields:
            known = ", ".join(fields)
            raise SchemaError(
                _join(prefix, str(name)), f"unknown key (known keys: {known})"
            )
    values = {}
    for name, value in data.items():
        key = _join(prefix, name)
        converted = _convert(value, hints[name], key)
        _check_metadata(converted, fields[name].metadata, key)
        values[name] = converted
    instance = cls(**values)
    check = getattr(instance, "check", None)
    if check is not None:
        try:
            check()
        except SchemaError as error:
            raise SchemaError(_join(prefix, error.key), error.message) from None
    return instance


def to_dict(instance: Any) -> dict:
    """The plain-data (YAML-ready) form of a schema dataclass: tuples become lists."""

    def plain(value):
        if isinstance(value, (tuple, list)):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(instance))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
