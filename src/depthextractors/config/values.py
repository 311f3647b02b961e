"""What a configuration value may be: one converter per kind of the parameter table.

Each row of the parameter table (:class:`~depthextractors.extraction.parameters.ParameterSpec`)
has a ``kind``; :func:`coerce` checks a value given for it (from YAML, the command line or
Python) and converts it to the type the configuration holds, raising :class:`ConfigError` with
one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import Any

from ..cameras import CAMERA_PRESETS
from ..extraction.parameters import ParameterSpec

__all__ = ["CAMERA_TYPES", "NULLABLE_KINDS", "ConfigError", "ConfigWarning", "coerce"]

#: Values of ``camera_type``: ``auto`` takes the camera the recording says it comes from; a
#: family or a camera model name sets it.
CAMERA_TYPES = ("auto", "kinect", "azure", "realsense", *CAMERA_PRESETS)
# Names moseq2-extract's generate-config takes too.
_CAMERA_ALIASES = {"k2": "kinect"}
#: Kinds whose value may be None (no value).
NULLABLE_KINDS = ("int_or_none", "path_or_none", "float_or_none", "str", "strings")


class ConfigError(ValueError):
    """A configuration value or file is wrong; the message is one line saying what and why."""


class ConfigWarning(UserWarning):
    """A configuration key is unknown or obsolete (ignored), or a value was adjusted."""


def coerce(spec: ParameterSpec, value: Any) -> Any:
    """Check and convert one value of ``spec``'s kind.

    Parameters
    ----------
    spec : ParameterSpec
        The row of the parameter table: key, kind, range and choices.
    value : object
        The value given.

    Returns
    -------
    object
        The value as the configuration holds it (pairs and triples as tuples).

    Raises
    ------
    ConfigError
        If the value is of the wrong type or out of range.
    """
    try:
        convert = _CONVERTERS[spec.kind]
    except KeyError:
        raise AssertionError(f"unknown option kind {spec.kind!r}") from None  # a programming error
    return convert(spec, value)


# ---------------------------------------------------------------------------------- checks
def _fail(name: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{name} must be {expected}, got {value!r}")


def _number(name: str, value: Any, integer: bool) -> float | int:
    if isinstance(value, bool):
        raise _fail(name, value, "an integer" if integer else "a number")
    if isinstance(value, str):
        try:
            value = float(value) if not integer else int(value.strip())
        except ValueError:
            raise _fail(name, value, "an integer" if integer else "a number") from None
    if integer:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise _fail(name, value, "an integer")
        return int(value)
    if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise _fail(name, value, "a finite number")
    return float(value)


def _check_range(spec: ParameterSpec, value: float) -> None:
    low, high = spec.minimum, spec.maximum
    if low is not None and value < low:
        raise ConfigError(f"{spec.key} must be at least {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{spec.key} must be at most {high:g}, got {value!r}")


def _sequence(spec: ParameterSpec, value: Any, length: int, integer: bool) -> tuple:
    original = value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * length  # moseq2 accepts one number for a square size
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, (list, tuple)) or len(value) != length:
        raise _fail(spec.key, original, f"a list of {length} numbers")
    try:
        numbers = tuple(_number(spec.key, v, integer) for v in value)
    except ConfigError:
        kind = "integers" if integer else "numbers"
        raise _fail(spec.key, original, f"a list of {length} {kind}") from None
    for number in numbers:
        _check_range(spec, number)
    return numbers


def _is_none(value: Any, words: tuple[str, ...]) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in words)


# ---------------------------------------------------------------------------------- kinds
def _bool(spec: ParameterSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _fail(spec.key, value, "true or false")


def _ranged(spec: ParameterSpec, value: Any, integer: bool) -> float | int:
    number = _number(spec.key, value, integer)
    _check_range(spec, number)
    return number


def _int_or_none(spec: ParameterSpec, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        return None
    return _ranged(spec, value, True)


def _float_or_none(spec: ParameterSpec, value: Any) -> float | None:
    return None if _is_none(value, ("none", "null")) else _ranged(spec, value, False)


def _filter_size(spec: ParameterSpec, value: Any) -> int:
    if isinstance(value, (list, tuple)):
        # moseq2 writes these as one-element lists (a click option with multiple=True).
        if len(value) != 1:
            raise _fail(spec.key, value, "one odd number of pixels/frames (or 0)")
        value = value[0]
    number = _ranged(spec, value, True)
    if number > 0 and number % 2 == 0:
        warnings.warn(
            f"{spec.key} must be an odd number; using {number + 1} instead of {number} "
            "(as moseq2-extract)",
            ConfigWarning,
            stacklevel=5,  # the caller of ExtractionConfig.from_dict
        )
        number += 1
    return number


def _choice(spec: ParameterSpec, value: Any) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else value
    if text not in spec.choices:
        raise _fail(spec.key, value, "one of " + ", ".join(spec.choices))
    return text


def _choice_int(spec: ParameterSpec, value: Any) -> int:
    number = _number(spec.key, value, True)
    if str(number) not in spec.choices:
        raise _fail(spec.key, value, "one of " + ", ".join(spec.choices))
    return number


def _auto_or_float(spec: ParameterSpec, value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    number = _number(spec.key, value, False)
    if number <= 0:
        raise _fail(spec.key, value, "'auto' or a positive depth in mm")
    return str(number)


def _path_or_none(spec: ParameterSpec, value: Any) -> str | None:
    if _is_none(value, ("", "none")):
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise _fail(spec.key, value, "a file path")
    return str(value)


def _strings(spec: ParameterSpec, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _fail(spec.key, value, "a list of strings")
    return list(value)


def _camera(spec: ParameterSpec, value: Any) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else value
    text = _CAMERA_ALIASES.get(text, text)
    if text not in CAMERA_TYPES:
        raise _fail(spec.key, value, "one of " + ", ".join(CAMERA_TYPES))
    return text


def _str(spec: ParameterSpec, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise _fail(spec.key, value, "a string")
    return str(value)


_CONVERTERS: dict[str, Callable[[ParameterSpec, Any], Any]] = {
    "bool": _bool,
    "int": lambda spec, value: _ranged(spec, value, True),
    "float": lambda spec, value: _ranged(spec, value, False),
    "int_or_none": _int_or_none,
    "float_or_none": _float_or_none,
    "filter_size": _filter_size,
    "pair_int": lambda spec, value: _sequence(spec, value, 2, True),
    "pair_float": lambda spec, value: _sequence(spec, value, 2, False),
    "triple_float": lambda spec, value: _sequence(spec, value, 3, False),
    "choice": _choice,
    "choice_int": _choice_int,
    "auto_or_float": _auto_or_float,
    "path_or_none": _path_or_none,
    "strings": _strings,
    "camera": _camera,
    "str": _str,
}
