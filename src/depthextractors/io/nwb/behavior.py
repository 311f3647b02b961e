"""The behavior processing module: the cropped frames and masks, position, heading, speeds,
sizes, validity, flips, the arena images, and the parameter and metadata tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..results import ExtractionResults
from ..results_h5 import PARAMETER_DESCRIPTIONS
from .layout import (
    CLOCK_OFFSET_KEY,
    IMAGES_NAME,
    MASK_NAME,
    METADATA_NAME,
    MODULE_NAME,
    PARAMETERS_NAME,
    VIDEO_NAME,
    _flatten,
    _jsonable,
    _key_value_table,
)
from .series import _add_scalars
from .streaming import _compressed, _SharedClock, _stream


def _add_behavior(
    results: ExtractionResults,
    nwbfile: Any,
    timestamps: np.ndarray,
    device: Any,
    clock_offset: float,
) -> _SharedClock:
    """Add the results to the behavior processing module of ``nwbfile`` (created if absent).

    ``timestamps`` are seconds from the session start, ``clock_offset`` the camera-clock time
    of 0 s. Returns the module's clock (the series holding its timestamps).
    """
    module = _behavior_module(nwbfile, results.metadata)
    # One timestamps dataset (the frames', or the first scalar series' without frames) that
    # every other series links to instead of copying it.
    clock = _SharedClock(timestamps)
    mask_dtype = None
    if results.frames is not None:
        _add_frames(module, results, clock, device)
        mask_dtype = _add_masks(module, results, clock, device)
    _add_scalars(module, _checked_scalars(results), clock)
    _add_frame_decisions(module, results, clock)
    _add_arena_images(module, results.metadata)
    _add_tables(module, results, mask_dtype, clock_offset)
    return clock


def _checked_scalars(results: ExtractionResults) -> dict[str, np.ndarray]:
    num_frames = len(results)
    scalars = {name: np.asarray(results.scalars[name][:]) for name in results.scalars}
    for name, values in scalars.items():
        if values.shape != (num_frames,):
            raise ValueError(
                f"scalar {name!r} has shape {values.shape}; expected one value per frame "
                f"({num_frames},)"
            )
    return scalars


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


def _add_frames(module: Any, results: ExtractionResults, clock: _SharedClock, device: Any) -> None:
    """The cropped, rotated frames (streamed)."""
    from pynwb.image import ImageSeries

    frames_shape = tuple(int(v) for v in results.frames.shape)
    true_depth = results.metadata.get("true_depth")
    depth_note = (
        f" The arena floor lies {float(true_depth):.1f} mm from the camera." if true_depth else ""
    )
    video = clock.series(
        ImageSeries,
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
    )
    module.add(video)


def _add_masks(
    module: Any, results: ExtractionResults, clock: _SharedClock, device: Any
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
    masks = clock.series(
        ImageSeries,
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
    )
    module.add(masks)
    return mask_dtype


#: The per-frame decisions exported (when the results hold them): series name, the results'
#: attribute, dtype, description.
_FRAME_DECISIONS = (
    (
        "flipped_series", "flips", np.uint8,
        "1 where the flip corrector turned the animal round (angle + pi, crop rotated 180 "
        "degrees), 0 elsewhere (moseq2 metadata/extraction/flips)",
    ),
    (
        "flip_confidence", "flip_confidence", np.float32,
        "The flip corrector's probability that the heading chosen for the frame is right (0.5 "
        "= chance, 1 = certain), unitless; NaN where the animal was not found or the corrector "
        "gives no confidence (depthextractors metadata/extraction/flip_confidence)",
    ),
    (
        "tracked_again", "tracked_again", np.uint8,
        "1 where the frame's tracked object lay far from where the frames round it put the "
        "animal and the frame was tracked again near there (retrack_jumps), 0 elsewhere "
        "(depthextractors metadata/extraction/tracked_again)",
    ),
)  # fmt: skip


def _add_frame_decisions(module: Any, results: ExtractionResults, clock: _SharedClock) -> None:
    """What the flip corrector decided, and its confidence (when one ran); the frames
    tracked again (when the extraction tracked frames again)."""
    from pynwb import TimeSeries

    for name, attribute, dtype, description in _FRAME_DECISIONS:
        values = getattr(results, attribute)
        if values is None:
            continue
        module.add(
            clock.series(
                TimeSeries,
                name=name,
                data=_compressed(np.asarray(values[:], dtype=dtype)),
                unit="n.a.",
                description=description,
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


def _add_tables(
    module: Any, results: ExtractionResults, mask_dtype: np.dtype | None, clock_offset: float
) -> None:
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
        "has_flips": (results.flips is not None, "Whether a flip corrector ran"),
        CLOCK_OFFSET_KEY: (
            float(clock_offset),
            "Time 0 of this file on the recording's own clock (depth_ts.txt / results_00.h5 "
            "timestamps), seconds: add it to the file's timestamps to align with other data "
            "recorded on the camera's clock",
        ),
    }
    if mask_dtype is not None:
        rows["frames_dtype"] = (str(np.dtype(results.frames.dtype)), "dtype of the crops")
        rows["frames_mask_dtype"] = (str(mask_dtype), "dtype of the masks before export")
    if metadata.get("roi_plane") is not None:
        rows["roi_plane"] = (
            _jsonable(metadata["roi_plane"]),
            "Floor plane (a, b, c, d): a*x + b*y + c*depth + d = 0, x, y pixels, depth mm",
        )
    for key, value in _flatten(metadata.get("acquisition") or {}).items():
        rows[f"acquisition/{key}"] = (value, "metadata.json of the recording")
    rows = {key: (_jsonable(value), text) for key, (value, text) in rows.items()}
    module.add(_key_value_table(METADATA_NAME, "Extraction and recording metadata", rows))
