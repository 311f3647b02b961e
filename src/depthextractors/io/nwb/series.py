"""The per-frame scalars as NWB series: the Datta-lab ``Position/SpatialSeries`` and
``CompassDirection/HeadOrientation`` with their meanings, and this project's series beside them
(see :data:`~depthextractors.io.nwb.layout._SCALAR_LAYOUT`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...extraction.scalars import MOSEQ2_SCALARS, SCALAR_DESCRIPTIONS
from .layout import _CONTAINER_KIND, _CONTAINER_ORDER, _SCALAR_LAYOUT, OTHER_SCALARS_NAME
from .streaming import _compressed, _SharedClock

_SPATIAL = {
    "SpatialSeries": (
        "Position (x, y, height) of the animal, as in the Datta-lab NWB files: moseq2-extract's "
        "centroid_x_mm and centroid_y_mm (the centroid's pixel position relative to the top-left "
        "corner of the arena ROI's bounding box, converted to millimetres as if it were a Kinect "
        "v2 full-frame pixel at the floor depth, whatever the camera: moseq2-extract 1.4.0's "
        "definition) and height_ave_mm (mean height above the floor of the crop's pixels between "
        "min_height and max_height). x, y are NaN where the animal was not found. For the "
        "position on the floor with this recording's own camera see centroid_floor_mm.",
        "x, y: moseq2-extract's millimetres (ROI-relative pixel position taken as a Kinect v2 "
        "pixel, whose image centre (256, 212) is 0) along image columns and rows; height: "
        "millimetres above the arena floor",
    ),
    "centroid_roi_px": (
        "Centroid of the animal's contour (x, y) in pixels from the top-left corner of the arena "
        "ROI's bounding box (moseq2-extract's centroid_x_px, centroid_y_px). NaN where the animal "
        "was not found.",
        "pixels from the top-left corner of the arena ROI's bounding box, x = column, y = row",
    ),
    "body_centroid_roi_px": (
        "Centre of the animal's body pixels (x, y) in pixels from the top-left corner of the "
        "arena ROI's bounding box (depthextractors' body_centroid_x_px, body_centroid_y_px; not "
        "in moseq2-extract): the pixels above min_height, with what the tail filter trimmed of "
        "the snout and flanks put back. NaN where the animal was not found.",
        "pixels from the top-left corner of the arena ROI's bounding box, x = column, y = row",
    ),
    "centroid_floor_mm": (
        "Centroid of the animal on the arena floor (x, y) in millimetres from the camera's "
        "optical axis, from its full-frame pixel position and this recording's own camera model "
        "at the floor depth (depthextractors' centroid_x_floor_mm, centroid_y_floor_mm; not in "
        "moseq2-extract). NaN where the animal was not found.",
        "millimetres on the floor plane from the camera's optical axis, x along image columns, "
        "y along image rows",
    ),
}

_DIRECTIONS = {
    "HeadOrientation": (
        "Heading of the animal (nose direction), radians counter-clockwise from the image's +x "
        "axis with y pointing up, unwrapped over the session as in the Datta-lab NWB files "
        "(moseq2-extract's angle: take it modulo 2 pi for a direction; its differences have no "
        "2 pi jumps). Body axis from the moments of the animal's contour, head end from the flip "
        "corrector. NaN where the animal was not found.",
        "0 = image +x (east), counter-clockwise positive with y pointing up; unwrapped",
    ),
    "body_orientation": (
        "Axis of the animal's body pixels (the same pixels as body_centroid_roi_px), radians "
        "counter-clockwise from the image's +x axis with y pointing up, turned to within 90 "
        "degrees of HeadOrientation and unwrapped with it (depthextractors' body_angle; not in "
        "moseq2-extract, whose angle is the contour's axis). NaN where the animal was not found.",
        "0 = image +x (east), counter-clockwise positive with y pointing up; unwrapped",
    ),
    "movement_direction": (
        "Direction in which the centroid moved since the previous frame, radians in [-pi, pi] "
        "(moseq2-extract's velocity_theta, arctan2(dy_mm, dx_mm)). NaN next to a frame without "
        "the animal.",
        "0 = image +x (east), counter-clockwise positive with y pointing up",
    ),
}


def _add_scalars(module: Any, scalars: dict[str, np.ndarray], clock: _SharedClock) -> None:
    """The per-frame scalars in their containers (module order: Datta-lab names first), then
    ``valid``."""
    from pynwb import TimeSeries

    containers = _scalar_containers(scalars, clock)
    for name in _CONTAINER_ORDER:
        if name in containers:
            module.add(containers.pop(name))
    if "valid" in scalars:
        module.add(
            clock.series(
                TimeSeries,
                name="valid",
                data=_compressed(np.asarray(scalars["valid"], dtype=np.uint8)),
                unit="n.a.",
                description=(
                    "1 where the animal was found in the frame, 0 where it was not (its "
                    "scalars are NaN there)"
                ),
            )
        )


def _scalar_containers(scalars: dict[str, np.ndarray], clock: _SharedClock) -> dict[str, Any]:
    """Position, directions, speeds, sizes and other scalars in their containers, by name."""
    from pynwb import TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, CompassDirection, Position, SpatialSeries

    classes = {"Position": Position, "CompassDirection": CompassDirection}
    containers: dict[str, Any] = {}

    def container(name: str) -> Any:
        if name not in containers:
            cls = classes.get(_CONTAINER_KIND.get(name, ""), BehavioralTimeSeries)
            containers[name] = cls(name=name)
        return containers[name]

    grouped: dict[tuple[str, str], dict[int | None, str]] = {}
    for name in scalars:
        if name in _SCALAR_LAYOUT:
            box, series, column, _unit = _SCALAR_LAYOUT[name]
            grouped.setdefault((box, series), {})[column] = name
    # Datta-lab objects first, so that without frames they hold the shared timestamps.
    for (box, series_name), columns in sorted(grouped.items(), key=lambda item: _rank(item[0])):
        names = [columns[k] for k in sorted(columns, key=lambda k: -1 if k is None else k)]
        unit = _SCALAR_LAYOUT[names[0]][3]
        if box in classes and set(columns) in ({None}, set(range(len(columns)))):
            description, reference = {**_SPATIAL, **_DIRECTIONS}[series_name]
            data = (
                scalars[names[0]]
                if None in columns
                else np.column_stack([scalars[n] for n in names])
            )
            container(box).add_spatial_series(
                clock.series(
                    SpatialSeries, name=series_name, data=_compressed(data), unit=unit,
                    reference_frame=reference,
                    description=f"{description} Columns: {', '.join(names)}.",
                )
            )  # fmt: skip
            continue
        # A partial set of a SpatialSeries' columns, or a plain scalar: one TimeSeries each.
        for name in names:
            box_name = box if None in columns and box not in classes else OTHER_SCALARS_NAME
            container(box_name).add_timeseries(
                clock.series(TimeSeries, **_series_fields(name, scalars[name]))
            )
    for name, values in scalars.items():
        if name not in _SCALAR_LAYOUT and name != "valid":
            container(OTHER_SCALARS_NAME).add_timeseries(
                clock.series(TimeSeries, **_series_fields(name, values))
            )
    return containers


def _rank(key: tuple[str, str]) -> tuple[int, str]:
    box, series = key
    order = _CONTAINER_ORDER.index(box) if box in _CONTAINER_ORDER else len(_CONTAINER_ORDER)
    return order, "" if series in ("SpatialSeries", "HeadOrientation") else series


def _series_fields(name: str, values: np.ndarray) -> dict[str, Any]:
    """Name, data, unit and description of one scalar's TimeSeries."""
    values = np.asarray(values)
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    origin = "moseq2-extract scalar" if name in MOSEQ2_SCALARS else "depthextractors scalar"
    return {
        "name": name,
        "data": _compressed(values),
        "unit": _SCALAR_LAYOUT.get(name, (None, None, None, "n.a."))[3],
        "description": f"{SCALAR_DESCRIPTIONS.get(name, f'Per-frame scalar {name}')} "
        f"({origin} {name})",
    }
