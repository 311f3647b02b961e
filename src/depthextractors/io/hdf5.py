"""HDF5 building blocks of the results files: plain Python values (numbers, strings, lists,
nested dicts, records) written as datasets and groups and read back, and datasets read on
demand (:class:`LazyH5Array`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

__all__ = ["LazyH5Array", "decode", "group_to_dict", "write_value"]


class LazyH5Array:
    """An HDF5 dataset read on demand: slicing opens the file, reads the slice, closes it.

    Parameters
    ----------
    path : pathlib.Path
        The HDF5 file.
    name : str
        Dataset path inside it.
    dtype : numpy dtype, optional
        Type the slices are cast to (e.g. ``bool`` for masks stored as uint8); the dataset's own
        type when not given.
    """

    def __init__(self, path: Path, name: str, dtype: Any = None) -> None:
        self.path = Path(path)
        self.name = name
        with h5py.File(self.path, "r") as handle:
            dataset = handle[name]
            self.shape = tuple(dataset.shape)
            self._stored_dtype = dataset.dtype
            self.attrs = dict(dataset.attrs)
        self.dtype = self._stored_dtype if dtype is None else np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        with h5py.File(self.path, "r") as handle:
            data = handle[self.name][key]
        return data if self.dtype == self._stored_dtype else np.asarray(data).astype(self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[()]
        return data if dtype is None else data.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyH5Array({str(self.path)!r}, {self.name!r}, shape={self.shape}, {self.dtype})"


def write_value(group: h5py.Group, name: str, value: Any, description: str | None) -> None:
    """Store a plain Python value as dataset (or, for a dict, group) ``name`` of ``group``.

    ``None`` becomes an empty string dataset, strings and lists of strings string datasets,
    dicts groups (recursively), rectangles of numbers arrays; records and ragged lists, which
    have no HDF5 array type, JSON text with the attribute ``encoding = "json"``.

    Parameters
    ----------
    group : h5py.Group
        Where to write.
    name : str
        Name of the new dataset or group.
    value : object
        The value (numbers, strings, lists, tuples, dicts, numpy arrays, None).
    description : str or None
        Stored as the ``description`` attribute of a dataset (not of a group).
    """
    if value is None:
        dataset = group.create_dataset(name, data=h5py.Empty(h5py.string_dtype()))
    elif isinstance(value, str):
        dataset = group.create_dataset(name, data=value, dtype=h5py.string_dtype())
    elif isinstance(value, dict):
        sub = group.create_group(name)
        for key, item in value.items():
            write_value(sub, str(key), item, None)
        return
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            dataset = group.create_dataset(
                name, data=[v.encode("utf-8") for v in value], dtype=h5py.string_dtype()
            )
        elif any(v is None for v in value):
            dataset = group.create_dataset(
                name, data=[str(v) for v in value], dtype=h5py.string_dtype()
            )
        else:
            array = _numeric_array(value)
            if array is None:
                # Records or ragged lists (an Azure calibration's cameras) have no HDF5 array
                # type: kept as JSON text, marked so that reading gives the list back.
                dataset = group.create_dataset(
                    name, data=json.dumps(value, default=_json_default), dtype=h5py.string_dtype()
                )
                dataset.attrs["encoding"] = "json"
            else:
                dataset = group.create_dataset(name, data=array)
    else:
        dataset = group.create_dataset(name, data=np.asarray(value))
    if description is not None:
        dataset.attrs["description"] = description


def _numeric_array(values: list | tuple) -> np.ndarray | None:
    """``values`` as a numeric array, or None if they are not a rectangle of numbers."""
    try:
        array = np.asarray(values)
    except ValueError:  # ragged
        return None
    return array if array.dtype.kind in "biufc" else None


def _json_default(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def decode(value: Any) -> Any:
    """A value read from HDF5 (a dataset's content or an attribute) as plain Python.

    Parameters
    ----------
    value : object
        What h5py returned: bytes, numpy arrays and scalars, ``h5py.Empty``.

    Returns
    -------
    object
        Text for bytes, lists for arrays (of text for string arrays), Python numbers for
        numpy scalars, ``None`` for an empty dataset.
    """
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in ("O", "S"):
            return [decode(v) for v in value.tolist()]
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def group_to_dict(group: h5py.Group) -> dict[str, Any]:
    """A group written by :func:`write_value` read back as a dict of plain Python values.

    Parameters
    ----------
    group : h5py.Group
        The group; subgroups become nested dicts, JSON-encoded datasets are decoded.

    Returns
    -------
    dict
    """
    contents: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            contents[key] = group_to_dict(item)
        elif item.attrs.get("encoding") == "json":
            contents[key] = json.loads(decode(item[()]))
        else:
            contents[key] = decode(item[()])
    return contents
