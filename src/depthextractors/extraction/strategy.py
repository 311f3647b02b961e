"""The parameter convention every extraction strategy follows: :class:`Strategy`.

A strategy's parameters are its constructor's arguments, stored under the same names (the
scikit-learn convention). So the defaults live in one place, the constructor's signature, and
every strategy reports itself the same way:

- :meth:`Strategy.get_params` gives the arguments it was built with (as stored, after
  validation);
- :meth:`Strategy.describe` gives ``{"class": ..., "params": ...}`` in plain YAML types, which
  is what results record for each strategy;
- :func:`build_strategy` turns such a description back into an equal strategy, so recorded
  parameters reproduce the extraction.

A strategy whose constructor takes ``*args`` or ``**kwargs`` cannot be described and is
refused when its parameters are asked for.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LARGEST_RECORDED_ARRAY", "Strategy", "build_strategy", "plain"]

class Strategy:
    """Base class of the extraction strategies: parameters are the constructor's arguments.

    Subclasses store every constructor argument as an attribute of the same name (normalised:
    tuples for pairs, floats for millimetres) and define no ``*args``/``**kwargs``. Nothing
    else is needed for :meth:`get_params`, :meth:`describe`, ``repr`` and :func:`build_strategy`
    to work. A strategy without parameters needs no constructor at all.
    """

    def __init__(self) -> None:
        """A strategy without parameters (subclasses with parameters define their own)."""

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Names of the constructor's arguments, in order.

        Returns
        -------
        tuple of str

        Raises
        ------
        TypeError
            If the constructor takes ``*args`` or ``**kwargs`` (its parameters cannot be
            recorded).
        """
        names = []
        for parameter in inspect.signature(cls.__init__).parameters.values():
            if parameter.name == "self":
                continue
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(
                    f"{cls.__name__}.__init__ takes *{parameter.name}; a Strategy's constructor "
                    "must name each of its parameters so that they can be recorded"
                )
            names.append(parameter.name)
        return tuple(names)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The constructor's defaults (arguments without one are left out).

        Returns
        -------
        dict
        """
        signature = inspect.signature(cls.__init__)
        return {
            name: signature.parameters[name].default
            for name in cls.param_names()
            if signature.parameters[name].default is not inspect.Parameter.empty
        }

    @classmethod
    def from_params(cls, **params: Any) -> Strategy:
        """Build the strategy from recorded parameters (:meth:`describe`'s ``params``).

        The constructor by default; a strategy that records something other than its
        constructor's arguments (a classifier recorded by its file path) overrides both.

        Returns
        -------
        Strategy
        """
        return cls(**params)

    def get_params(self) -> dict[str, Any]:
        """The arguments this strategy was built with, under the constructor's names.

        Returns
        -------
        dict
            ``type(self)(**self.get_params())`` builds an equal strategy.
        """
        return {name: getattr(self, name) for name in self.param_names()}

    def describe(self) -> dict[str, Any]:
        """What results record of this strategy: its class and its parameters, YAML-ready.

        Returns
        -------
        dict
            ``{"class": "module.Class", "params": {...}}``; nested strategies are described
            the same way, arrays as lists.
        """
        cls = type(self)
        return {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "params": {name: plain(value) for name, value in self.get_params().items()},
        }

    def __repr__(self) -> str:
        defaults = self.default_params()
        shown = []
        for name, value in self.get_params().items():
            if name in defaults and _same(value, defaults[name]):
                continue
            shown.append(f"{name}={_short_repr(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"


#: Arrays with more elements than this are not written out in a description (a YAML list of a
#: whole image would be megabytes); they are named by shape and dtype instead.
LARGEST_RECORDED_ARRAY = 1000


def plain(value: Any) -> Any:
    """``value`` in plain YAML types: tuples and arrays as lists, numpy scalars as numbers.

    Strategies become their :meth:`Strategy.describe` mapping. An array of more than
    :data:`LARGEST_RECORDED_ARRAY` elements becomes ``{"not_recorded": "<shape> <dtype>
    array"}``: a description holding one cannot be built again (the strategy records such a
    parameter its own way, as :class:`~depthextractors.extraction.manual_roi.ManualROI` does).
    """
    if isinstance(value, Strategy):
        return value.describe()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.size > LARGEST_RECORDED_ARRAY:
            return {"not_recorded": f"{'x'.join(map(str, value.shape))} {value.dtype} array"}
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def build_strategy(description: Mapping[str, Any]) -> Strategy:
    """Rebuild a strategy from :meth:`Strategy.describe`'s mapping.

    Parameters
    ----------
    description : mapping
        ``{"class": "module.Class", "params": {...}}``; nested descriptions are rebuilt too.

    Returns
    -------
    Strategy

    Raises
    ------
    ValueError
        If the class cannot be found or is not a :class:`Strategy`.
    """
    if not isinstance(description, Mapping) or "class" not in description:
        raise ValueError(
            f"a strategy description is a mapping with 'class' and 'params', got {description!r}"
        )
    name = str(description["class"])
    module_name, _, class_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(
            f"the strategy class {name} cannot be found; import the module that defines it "
            "first, or give the strategy itself"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{name} is not a depthextractors Strategy")
    params = {
        key: _rebuild(value) for key, value in dict(description.get("params") or {}).items()
    }
    return cls.from_params(**params)


def _rebuild(value: Any) -> Any:
    if isinstance(value, Mapping) and "class" in value and "params" in value:
        return build_strategy(value)
    if isinstance(value, Mapping) and "not_recorded" in value:
        raise ValueError(
            f"the description holds a parameter that was not recorded "
            f"({value['not_recorded']}); give the strategy itself"
        )
    return value


def _same(a: Any, b: Any) -> bool:
    return bool(plain(a) == plain(b))


def _short_repr(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"<{value.dtype} array {value.shape}>"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)
