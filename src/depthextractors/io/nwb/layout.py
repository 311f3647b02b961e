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
#: Row of ``extraction_metadata``: the camera-clock time (s) of time 0 of the file, added back
#: to the file's timestamps when read so the results keep the recording's clock.
CLOCK_OFFSET_KEY = "camera_clock_at_time_zero_s"

# Where each scalar goes: name -> (container, series, column or None, unit). A column means
# the scalar is one column of a SpatialSeries. Position/SpatialSeries and
# CompassDirection/HeadOrientation are the Datta-lab files' own names and meanings (moseq2's
# ROI-relative Kinect-pixel millimetres and the unwrapped angle); everything else is this
# project's, beside them, named by its scalar.
_SCALAR_LAYOUT: dict[str, tuple[str, str, int | None, str]] = {
    "centroid_x_mm": ("Position", "SpatialSeries", 0, "millimeters"),
    "centroid_y_mm": ("Position", "SpatialSeries", 1, "millimeters"),
    "height_ave_mm": ("Position", "SpatialSeries", 2, "millimeters"),
    "centroid_x_px": ("Position", "centroid_roi_px", 0, "pixels"),
    "centroid_y_px": ("Position", "centroid_roi_px", 1, "pixels"),
    "body_centroid_x_px": ("Position", "body_centroid_roi_px", 0, "pixels"),
    "body_centroid_y_px": ("Position", "body_centroid_roi_px", 1, "pixels"),
    "centroid_x_floor_mm": ("Position", "centroid_floor_mm", 0, "millimeters"),
    "centroid_y_floor_mm": ("Position", "centroid_floor_mm", 1, "millimeters"),
    "angle": ("CompassDirection", "HeadOrientation", None, "radians"),
    "body_angle": ("CompassDirection", "body_orientation", None, "radians"),
    "velocity_theta": ("CompassDirection", "movement_direction", None, "radians"),
    "velocity_2d_px": ("speed", "velocity_2d_px", None, "pixels/frame"),
    "velocity_3d_px": ("speed", "velocity_3d_px", None, "pixels/frame"),
    "velocity_2d_mm": ("speed", "velocity_2d_mm", None, "mm/frame"),
    "velocity_3d_mm": ("speed", "velocity_3d_mm", None, "mm/frame"),
    "velocity_2d_mm_per_s": ("speed", "velocity_2d_mm_per_s", None, "mm/s"),
    "velocity_3d_mm_per_s": ("speed", "velocity_3d_mm_per_s", None, "mm/s"),
    "length_px": ("size", "length_px", None, "pixels"),
    "width_px": ("size", "width_px", None, "pixels"),
    "area_px": ("size", "area_px", None, "pixels"),
    "length_mm": ("size", "length_mm", None, "mm"),
    "width_mm": ("size", "width_mm", None, "mm"),
    "area_mm": ("size", "area_mm", None, "mm^2"),
    "body_length_px": ("body", "body_length_px", None, "pixels"),
    "body_width_px": ("body", "body_width_px", None, "pixels"),
    "body_area_px": ("body", "body_area_px", None, "pixels"),
    "body_height_mean_mm": ("body", "body_height_mean_mm", None, "mm"),
    "body_length_mm": ("body", "body_length_mm", None, "mm"),
    "body_width_mm": ("body", "body_width_mm", None, "mm"),
    "body_area_mm2": ("body", "body_area_mm2", None, "mm^2"),
}

#: pynwb class of each container (BehavioralTimeSeries when not listed).
_CONTAINER_KIND = {"Position": "Position", "CompassDirection": "CompassDirection"}

#: Containers in the order they are added to the module (Datta-lab names first).
_CONTAINER_ORDER = ("Position", "CompassDirection", "speed", "size", "body", OTHER_SCALARS_NAME)


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
