"""What goes where in the NWB file: the names of its objects, where each moseq2 scalar is
stored, and the key/value tables of parameters and metadata (written and read)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Processing module holding the results (as the Datta-lab conversion).
MODULE_NAME = "behavior"
VIDEO_NAME = "processed_depth_video"
MASK_NAME = "frames_mask"
IMAGES_NAME = "extraction_images"
PARAMETERS_NAME = "extraction_parameters"
METADATA_NAME = "extraction_metadata"
RAW_VIDEO_NAME = "depth_video"
OTHER_SCALARS_NAME = "other_scalars"


# Where each scalar goes: name -> (container, series, column or None, unit). A column means
# the scalar is one column of a SpatialSeries; the container's pynwb class is in
# behavior._CONTAINER_KIND (BehavioralTimeSeries when not listed).
_SCALAR_LAYOUT: dict[str, tuple[str, str, int | None, str]] = {
    "centroid_x_mm": ("position", "position", 0, "millimeters"),
    "centroid_y_mm": ("position", "position", 1, "millimeters"),
    "height_ave_mm": ("position", "position", 2, "millimeters"),
    "centroid_x_px": ("position", "position_px", 0, "pixels"),
    "centroid_y_px": ("position", "position_px", 1, "pixels"),
    "angle": ("angle", "angle", None, "radians"),
    "velocity_2d_mm": ("speed_2d", "speed_2d", None, "mm/frame"),
    "velocity_2d_px": ("speed_2d", "speed_2d_px", None, "pixels/frame"),
    "velocity_2d_mm_per_s": ("speed_2d", "speed_2d_per_s", None, "mm/s"),
    "velocity_3d_mm": ("speed_3d", "speed_3d", None, "mm/frame"),
    "velocity_3d_px": ("speed_3d", "speed_3d_px", None, "pixels/frame"),
    "velocity_3d_mm_per_s": ("speed_3d", "speed_3d_per_s", None, "mm/s"),
    "velocity_theta": ("angular_velocity_2d", "angular_velocity_2d", None, "radians"),
    "length_mm": ("length", "length", None, "mm"),
    "length_px": ("length", "length_px", None, "pixels"),
    "width_mm": ("width", "width", None, "mm"),
    "width_px": ("width", "width_px", None, "pixels"),
    "area_mm": ("area", "area", None, "mm^2"),
    "area_px": ("area", "area_px", None, "pixels"),
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (str, int, float, bool)) or value is None:
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value
    return str(value)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become ``parent/child`` keys (NWB Inspector rejects dicts in table cells)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}/"))
        else:
            flat[name] = _jsonable(value)
    return flat


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split("/")
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return nested


def _key_value_table(name: str, description: str, rows: dict[str, tuple[Any, str]]) -> Any:
    """A DynamicTable of ``key``, ``value`` (JSON text) and ``meaning`` columns."""
    from hdmf.common import DynamicTable

    table = DynamicTable(name=name, description=description)
    # "description" would clash with the table's own attribute, hence "meaning".
    table.add_column("key", "Name of the entry")
    table.add_column("value", "Value, as JSON text (json.loads gives it back)")
    table.add_column("meaning", "What the entry means")
    for key, (value, text) in rows.items():
        table.add_row(key=key, value=json.dumps(value), meaning=text or "n/a")
    return table


def _read_key_value_table(table: Any) -> dict[str, Any]:
    names = [str(v) for v in table["key"][:]]
    values = [json.loads(v) for v in table["value"][:]]
    return dict(zip(names, values, strict=True))
