"""The behavior processing module: the cropped frames and masks, position, heading, speeds,
sizes, validity, flips, the arena images, and the parameter and metadata tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...extraction.scalars import SCALAR_DESCRIPTIONS
from ..results import ExtractionResults
from ..results_h5 import PARAMETER_DESCRIPTIONS
from .layout import (
    _SCALAR_LAYOUT,
    IMAGES_NAME,
    MASK_NAME,
    METADATA_NAME,
    MODULE_NAME,
    OTHER_SCALARS_NAME,
    PARAMETERS_NAME,
    VIDEO_NAME,
    _flatten,
    _jsonable,
    _key_value_table,
)
from .streaming import _compressed, _stream, _timing

_SPATIAL_DESCRIPTIONS = {
    "position": (
        "Centroid of the animal (x, y) in millimetres on the floor plane at the true depth, "
        "relative to the camera's optical centre, and its mean height above the floor (mm) "
        "(moseq2 centroid_x_mm, centroid_y_mm, height_ave_mm). NaN where the animal was not "
        "found."
    ),
    "position_px": (
        "Centroid of the animal (x, y) in pixels from the top-left corner of the arena ROI's "
        "bounding box (moseq2 centroid_x_px, centroid_y_px). NaN where the animal was not found."
    ),
    "heading_2d": (
        "Heading of the animal (nose direction) in radians, counter-clockwise from the image's "
        "+x axis with y pointing up, wrapped to [-pi, pi). The body axis comes from image "
        "moments of the largest contour; the head end from the flip corrector. The unwrapped "
        "angle is behavior/angle/angle."
    ),
}

_REFERENCE_FRAMES = {
    "position": (
        "x, y: millimetres on the floor plane from the camera's optical centre, x along image "
        "columns, y along image rows; height: millimetres above the arena floor"
    ),
    "position_px": "pixels from the top-left corner of the arena ROI's bounding box (x = column)",
    "heading_2d": "0 = image +x (east), counter-clockwise positive with y pointing up",
}

_CONTAINER_KIND = {
    "position": "Position",
    "heading_2d": "CompassDirection",
}


def _add_behavior(
    results: ExtractionResults, nwbfile: Any, timestamps: np.ndarray, device: Any
) -> None:
    """Add the results to the behavior processing module of ``nwbfile`` (created if absent)."""
    module = _behavior_module(nwbfile, results.metadata)
    timing = _timing(timestamps)
    video = _add_frames(module, results, timing, device)
    # Every other series links to these timestamps instead of copying them.
    linked: dict[str, Any] = dict(timing) if "rate" in timing else {"timestamps": video}
    mask_dtype = _add_masks(module, results, linked, device)
    _add_scalars(module, results, linked)
    _add_flips(module, results, linked)
    _add_arena_images(module, results.metadata)
    _add_tables(module, results, mask_dtype)


def _behavior_module(nwbfile: Any, metadata: dict[str, Any]) -> Any:
    if MODULE_NAME in nwbfile.processing:
        return nwbfile.processing[MODULE_NAME]
    return nwbfile.create_processing_module(
        name=MODULE_NAME,
        description=(
            "Processed behavioral data from MoSeq depth extraction "
            f"({metadata.get('software', 'depthextractors')} "
            f"{metadata.get('version', 'unknown')}): the animal cropped and rotated (nose "
            "east), its position, heading, speeds and size per frame, and the arena"
        ),
    )


def _add_frames(
    module: Any, results: ExtractionResults, timing: dict[str, Any], device: Any
) -> Any:
    """The cropped, rotated frames (streamed); returns their ImageSeries."""
    from pynwb.image import ImageSeries

    frames_shape = tuple(int(v) for v in results.frames.shape)
    true_depth = results.metadata.get("true_depth")
    depth_note = (
        f" The arena floor lies {float(true_depth):.1f} mm from the camera." if true_depth else ""
    )
    video = ImageSeries(
        name=VIDEO_NAME,
        data=_stream(results.frames),
        unit="millimeters",
        format="raw",
        description=(
            f"Cropped ({frames_shape[1]}x{frames_shape[2]} pixels) and rotated images of the "
            "animal, nose pointing east (+x): height above the arena floor in millimetres "
            "(moseq2 /frames)." + depth_note
        ),
        device=device,
        **timing,
    )
    module.add(video)
    return video


def _add_masks(
    module: Any, results: ExtractionResults, linked: dict[str, Any], device: Any
) -> np.dtype:
    """The masks of the frames (streamed); returns their dtype before export."""
    from pynwb.image import ImageSeries

    frames_shape = tuple(int(v) for v in results.frames.shape)
    mask_shape = tuple(int(v) for v in results.frames_mask.shape)
    if mask_shape != frames_shape:
        raise ValueError(
            f"frames_mask has shape {mask_shape} but frames have {frames_shape}; they must match"
        )
    mask_dtype = np.dtype(results.frames_mask.dtype)
    is_bool = mask_dtype == np.bool_
    # pynwb 4 refuses ImageMaskSeries (deprecated in the schema), so a plain ImageSeries.
    masks = ImageSeries(
        name=MASK_NAME,
        data=_stream(results.frames_mask, np.uint8 if is_bool else None),
        unit="n.a.",
        format="raw",
        description=(
            "Mask of the animal in each processed_depth_video frame: 1 = animal, 0 = background "
            "(moseq2 /frames_mask)"
            if is_bool
            else "Log-likelihood of each pixel belonging to the animal under the tracking "
            "model (moseq2 /frames_mask of the EM tracker)"
        ),
        device=device,
        **linked,
    )
    module.add(masks)
    return mask_dtype


def _add_scalars(module: Any, results: ExtractionResults, linked: dict[str, Any]) -> None:
    """The per-frame scalars, in the Datta-lab containers, then ``valid``."""
    from pynwb import TimeSeries

    num_frames = len(results)
    scalars = {name: np.asarray(results.scalars[name][:]) for name in results.scalars}
    for name, values in scalars.items():
        if values.shape != (num_frames,):
            raise ValueError(
                f"scalar {name!r} has shape {values.shape}; expected one value per frame "
                f"({num_frames},)"
            )
    containers = _scalar_containers(scalars, linked)
    # Module order: the Datta-lab names first.
    for name in ("position", "heading_2d", "angle", "speed_2d", "speed_3d",
                 "angular_velocity_2d", "length", "width", "area", OTHER_SCALARS_NAME):  # fmt: skip
        if name in containers:
            module.add(containers.pop(name))
    if "valid" in scalars:
        module.add(
            TimeSeries(
                name="valid",
                data=_compressed(np.asarray(scalars["valid"], dtype=np.uint8)),
                unit="n.a.",
                description=(
                    "1 where the animal was found in the frame, 0 where it was not (its "
                    "scalars are NaN there)"
                ),
                **linked,
            )
        )


def _scalar_containers(scalars: dict[str, np.ndarray], linked: dict[str, Any]) -> dict[str, Any]:
    """Position, heading, speeds, sizes and other scalars in their containers, by name."""
    from pynwb import TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, CompassDirection, Position, SpatialSeries

    containers: dict[str, Any] = {}

    def container(name: str) -> Any:
        if name not in containers:
            kind = _CONTAINER_KIND.get(name, "BehavioralTimeSeries")
            cls = {
                "Position": Position,
                "CompassDirection": CompassDirection,
                "BehavioralTimeSeries": BehavioralTimeSeries,
            }[kind]
            containers[name] = cls(name=name)
        return containers[name]

    grouped: dict[tuple[str, str], dict[int | None, str]] = {}
    for name in scalars:
        if name in _SCALAR_LAYOUT:
            box, series, column, _unit = _SCALAR_LAYOUT[name]
            grouped.setdefault((box, series), {})[column] = name
    for (box, series_name), columns in grouped.items():
        if None in columns:
            name = columns[None]
            unit = _SCALAR_LAYOUT[name][3]
            container(box).add_timeseries(
                TimeSeries(
                    name=series_name,
                    data=_compressed(scalars[name]),
                    unit=unit,
                    description=f"{SCALAR_DESCRIPTIONS.get(name, name)} (moseq2 scalar {name})",
                    **linked,
                )
            )
            continue
        names = [columns[k] for k in sorted(columns)]
        if sorted(columns) != list(range(len(columns))):
            # A partial set of columns cannot be a SpatialSeries; store each on its own.
            for name in names:
                _add_other(container, name, scalars[name], linked)
            continue
        data = np.column_stack([scalars[n] for n in names])
        container(box).add_spatial_series(
            SpatialSeries(
                name=series_name,
                data=_compressed(data),
                unit=_SCALAR_LAYOUT[names[0]][3],
                reference_frame=_REFERENCE_FRAMES[series_name],
                description=_SPATIAL_DESCRIPTIONS[series_name] + f" Columns: {', '.join(names)}.",
                **linked,
            )
        )
    if "angle" in scalars:
        container("heading_2d").add_spatial_series(
            SpatialSeries(
                name="heading_2d",
                data=_compressed(_wrap_angle(scalars["angle"])),
                unit="radians",
                reference_frame=_REFERENCE_FRAMES["heading_2d"],
                description=_SPATIAL_DESCRIPTIONS["heading_2d"],
                **linked,
            )
        )
    for name, values in scalars.items():
        if name in _SCALAR_LAYOUT or name == "valid":
            continue
        _add_other(container, name, values, linked)
    return containers


def _add_flips(module: Any, results: ExtractionResults, linked: dict[str, Any]) -> None:
    """What the flip corrector decided, and its confidence (when one ran)."""
    from pynwb import TimeSeries

    if results.flips is not None:
        flips = np.asarray(results.flips[:], dtype=np.uint8)
        module.add(
            TimeSeries(
                name="flipped_series",
                data=_compressed(flips),
                unit="n.a.",
                description=(
                    "1 where the flip corrector turned the animal round (angle + pi, crop rotated "
                    "180 degrees), 0 elsewhere (moseq2 metadata/extraction/flips)"
                ),
                **linked,
            )
        )
    if results.flip_confidence is not None:
        module.add(
            TimeSeries(
                name="flip_confidence",
                data=_compressed(np.asarray(results.flip_confidence[:], dtype=np.float32)),
                unit="n.a.",
                description=(
                    "The flip corrector's probability that the heading chosen for the frame is "
                    "right (0.5 = chance, 1 = certain), unitless; NaN where the animal was not "
                    "found or the corrector gives no confidence (depthextractors "
                    "metadata/extraction/flip_confidence)"
                ),
                **linked,
            )
        )


def _add_arena_images(module: Any, metadata: dict[str, Any]) -> None:
    """Background, ROI and first frame, as grayscale images."""
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    images = []
    background = metadata.get("background")
    if background is not None:
        images.append(
            GrayscaleImage(
                name="background",
                data=_compressed(np.asarray(background)),
                description=(
                    "Background depth of the arena without the animal, millimetres from the camera "
                    "(median of strided frames; moseq2 metadata/extraction/background)"
                ),
            )
        )
    roi = metadata.get("roi")
    if roi is not None:
        images.append(
            GrayscaleImage(
                name="roi",
                data=_compressed(np.asarray(roi, dtype=bool).astype(np.uint8) * np.uint8(255)),
                description="Arena region of interest: 255 inside the arena, 0 outside",
            )
        )
    first_frame = metadata.get("first_frame")
    if first_frame is not None:
        images.append(
            GrayscaleImage(
                name="first_frame",
                data=_compressed(np.asarray(first_frame)),
                description="Raw depth of the first frame of the recording, millimetres",
            )
        )
    if images:
        module.add(
            Images(
                name=IMAGES_NAME,
                images=images,
                description="Images of the arena computed by the extraction",
            )
        )


def _add_tables(module: Any, results: ExtractionResults, mask_dtype: np.dtype) -> None:
    """The extraction parameters and the extraction and recording metadata, as tables."""
    metadata = results.metadata
    parameters = dict(metadata.get("parameters") or {})
    true_depth = metadata.get("true_depth")
    flat_parameters = _flatten(parameters)
    if flat_parameters:
        module.add(
            _key_value_table(
                PARAMETERS_NAME,
                "Every extraction parameter under its moseq2-extract name, values as JSON",
                {
                    key: (value, PARAMETER_DESCRIPTIONS.get(key.split("/")[0], ""))
                    for key, value in flat_parameters.items()
                },
            )
        )
    rows: dict[str, tuple[Any, str]] = {
        "uuid": (metadata.get("uuid"), "Identifier of the extraction"),
        "software": (metadata.get("software", "depthextractors"), "Software that extracted"),
        "version": (metadata.get("version"), "Version of the software that extracted"),
        "true_depth": (
            None if true_depth is None else float(true_depth),
            "Floor depth of the arena, millimetres",
        ),
        "first_frame_idx": (
            metadata.get("first_frame_idx"),
            "First frame of the recording extracted",
        ),
        "last_frame_idx": (
            metadata.get("last_frame_idx"),
            "Frame after the last one extracted",
        ),
        "dropped_frame_count": (
            int(metadata.get("dropped_frame_count", 0)),
            "Frames missing from the recording, from gaps in the timestamps",
        ),
        "dropped_after": (
            _jsonable(np.asarray(metadata.get("dropped_after", []), dtype=np.int64)),
            "Indices (into the extracted frames) of frames followed by a timestamp gap",
        ),
        "frames_dtype": (str(np.dtype(results.frames.dtype)), "dtype of the crops"),
        "frames_mask_dtype": (str(mask_dtype), "dtype of the masks before export"),
        "has_flips": (results.flips is not None, "Whether a flip corrector ran"),
    }
    if metadata.get("roi_plane") is not None:
        rows["roi_plane"] = (
            _jsonable(metadata["roi_plane"]),
            "Floor plane (a, b, c, d): a*x + b*y + c*depth + d = 0, x, y pixels, depth mm",
        )
    for key, value in _flatten(metadata.get("acquisition") or {}).items():
        rows[f"acquisition/{key}"] = (value, "metadata.json of the recording")
    rows = {key: (_jsonable(value), text) for key, (value, text) in rows.items()}
    module.add(_key_value_table(METADATA_NAME, "Extraction and recording metadata", rows))


def _wrap_angle(angle: np.ndarray) -> np.ndarray:
    wrapped = np.mod(np.asarray(angle, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi
    return wrapped.astype(np.float32)


def _add_other(container: Any, name: str, values: np.ndarray, linked: dict[str, Any]) -> None:
    from pynwb import TimeSeries

    values = np.asarray(values)
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    container(OTHER_SCALARS_NAME).add_timeseries(
        TimeSeries(
            name=name,
            data=_compressed(values),
            unit=_SCALAR_LAYOUT.get(name, (None, None, None, "n.a."))[3],
            description=SCALAR_DESCRIPTIONS.get(name, f"Per-frame scalar {name}"),
            **linked,
        )
    )
