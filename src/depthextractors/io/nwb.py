"""NWB export and import of extraction results, with current pynwb and core NWB types only.

:meth:`ExtractionResults.to_nwb <depthextractors.io.results.ExtractionResults.to_nwb>` and
:meth:`~depthextractors.io.results.ExtractionResults.from_nwb` call :func:`write_nwb` and
:func:`read_nwb`. pynwb and hdmf are imported only when a file is written or read, so importing
this module does not need the ``nwb`` extra.

Layout, after the public Datta-lab MoSeq conversion (``processing/behavior``), with core types in
place of the ``ndx-depth-moseq`` extension (which needs pynwb < 3)::

    processing/behavior/                         ProcessingModule
        processed_depth_video                    ImageSeries (frames, rows, cols), millimetres,
                                                 gzip, one HDF5 chunk per frame; holds the
                                                 timestamps the other series link to
        frames_mask                              ImageSeries (ImageMaskSeries is deprecated and
                                                 refused by pynwb 4): uint8, 1 = animal (float32
                                                 log-likelihoods of the EM tracker as they are)
        position/position                        Position / SpatialSeries (x, y, height), mm
        position/position_px                     SpatialSeries (x, y), pixels of the ROI box
        heading_2d/heading_2d                    CompassDirection / SpatialSeries, radians,
                                                 wrapped to [-pi, pi)
        angle/angle                              the unwrapped moseq2 ``angle``, radians
        speed_2d/{speed_2d, speed_2d_px, speed_2d_per_s}     mm/frame, pixels/frame, mm/s
        speed_3d/{speed_3d, speed_3d_px, speed_3d_per_s}
        angular_velocity_2d/angular_velocity_2d  moseq2 ``velocity_theta``, radians
        length/{length, length_px}, width/{width, width_px}, area/{area, area_px}
        valid                                    TimeSeries, 1 where the animal was found
        flipped_series                           TimeSeries, 1 where the flip corrector turned
                                                 the animal round (when one ran)
        flip_confidence                          TimeSeries, unitless: the flip corrector's
                                                 probability that the heading is right (0.5 =
                                                 chance, 1 = certain; NaN where no animal)
        other_scalars/<name>                     any scalar not above, under its own name
        extraction_images/{background, roi, first_frame}     Images / GrayscaleImage
        extraction_parameters                    DynamicTable: key, value (JSON), meaning
        extraction_metadata                      DynamicTable: uuid, version, true depth, frame
                                                 range, dropped frames, metadata.json keys
    acquisition/depth_video                      optional raw depth video (external or embedded)
    general/devices/<camera>                     the depth camera (Device + DeviceModel)

Timestamps are the extraction's own, in seconds, as they came from the recording (Kinect
milliseconds and Azure microseconds converted) and not shifted to start at zero, so they stay on
the clock of ``depth_ts.txt`` / ``results_00.h5`` and of other devices recorded on it; the
session start time is the recording's (``StartTime`` of ``metadata.json``, a RealSense bag's
first frame, an Azure ``.mkv``'s creation time). Frames dropped by the camera show as gaps and
are listed in ``extraction_metadata`` (``dropped_frame_count``, ``dropped_after``). A
perfectly regular clock is written as ``starting_time`` and ``rate`` (NWB best practice) instead.
The files are written to ``<name>.partial`` and renamed when complete.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import uuid as uuid_module
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..extraction.scalars import SCALAR_DESCRIPTIONS
from .results import ExtractionResults
from .results_h5 import PARAMETER_DESCRIPTIONS, LazyH5Array

__all__ = [
    "MODULE_NAME",
    "read_nwb",
    "write_nwb",
]

logger = logging.getLogger(__name__)

#: Processing module holding the results (as the Datta-lab conversion).
MODULE_NAME = "behavior"
VIDEO_NAME = "processed_depth_video"
MASK_NAME = "frames_mask"
IMAGES_NAME = "extraction_images"
PARAMETERS_NAME = "extraction_parameters"
METADATA_NAME = "extraction_metadata"
RAW_VIDEO_NAME = "depth_video"
OTHER_SCALARS_NAME = "other_scalars"

#: gzip level of the frame datasets. Measured on per-frame chunks of 80x80 uint8 crops (the
#: 900 real moseq2 crops: 546 / 522 / 500 bytes per frame at levels 1 / 4 / 9, level 9 four
#: times slower to write than 4); gzip because every HDF5 reader has it without plugins.
FRAME_GZIP_LEVEL = 4
#: Frames read from the results per write buffer (bounds memory: 2,000 80x80 uint8 crops are
#: 12.8 MB).
BUFFER_FRAMES = 2000

# Where each scalar goes: name -> (container, series, column or None, unit). A column means
# the scalar is one column of a SpatialSeries; the container's pynwb class is in
# _CONTAINER_KIND (BehavioralTimeSeries when not listed).
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

_MANUFACTURERS = {
    "kinect": ("Microsoft", "Kinect v2"),
    "azure": ("Microsoft", "Azure Kinect DK"),
    "realsense": ("Intel", "RealSense"),
}


# --------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------
class _ExtractorFrames:
    """Adapts a depth extractor to the slicing the chunk iterator needs (frames axis first)."""

    def __init__(self, extractor: Any) -> None:
        rows, cols = extractor.get_image_size()
        self._extractor = extractor
        self.shape = (int(extractor.get_num_frames()), int(rows), int(cols))
        self.dtype = np.dtype(extractor.get_dtype())

    def __getitem__(self, selection: tuple[slice, ...]) -> np.ndarray:
        frames = selection[0]
        video = self._extractor.get_video(frames.start, frames.stop)
        return video[(slice(None), *selection[1:])]


@functools.cache
def _iterator_class() -> type:
    from hdmf.data_utils import GenericDataChunkIterator

    class ArrayChunkIterator(GenericDataChunkIterator):
        """Streams a lazily sliceable (frames, ...) array to HDF5, one buffer at a time."""

        def __init__(self, array: Any, dtype: np.dtype | None, **kwargs: Any) -> None:
            self._array = array
            self._dtype = np.dtype(dtype if dtype is not None else array.dtype)
            super().__init__(**kwargs)

        def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
            block = np.asarray(self._array[selection])
            return block.astype(self._dtype, copy=False)

        def _get_maxshape(self) -> tuple[int, ...]:
            return tuple(int(v) for v in self._array.shape)

        def _get_dtype(self) -> np.dtype:
            return self._dtype

    return ArrayChunkIterator


def _stream(array: Any, dtype: Any = None, buffer_frames: int | None = None) -> Any:
    """An hdmf ``H5DataIO`` that streams ``array`` gzip-compressed, one HDF5 chunk per frame.

    ``buffer_frames`` frames are read at a time (:data:`BUFFER_FRAMES` when ``None``).
    """
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    if buffer_frames is None:
        buffer_frames = BUFFER_FRAMES

    shape = tuple(int(v) for v in array.shape)
    chunk = (1, *shape[1:])
    # The buffer must be a whole number of chunks and no longer than the data.
    buffer = (max(1, min(int(buffer_frames), shape[0])), *shape[1:])
    iterator = _iterator_class()(array, dtype, chunk_shape=chunk, buffer_shape=buffer)
    return H5DataIO(iterator, compression="gzip", compression_opts=FRAME_GZIP_LEVEL)


def _compressed(data: np.ndarray) -> Any:
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    return H5DataIO(np.asarray(data), compression="gzip", compression_opts=4)


# --------------------------------------------------------------------------------------------
# Metadata helpers
# --------------------------------------------------------------------------------------------
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


_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")
# Where a recording's start time is, in order: metadata.json of Kinect / moseq acquisition, the
# first frame's clock time of a RealSense bag, the container's creation time (Azure .mkv).
_START_TIME_KEYS = ("StartTime", "start_time", "creation_time")


def _parse_start_time(value: Any) -> datetime | None:
    """metadata.json's ``StartTime`` (e.g. ``2017-01-25T10:42:07.1734698-05:00``) as datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    # .NET writes 7 fractional digits and Python before 3.11 reads at most 6, nor "Z".
    text = _ISO_FRACTION.sub(r"\1", text)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _wrap_angle(angle: np.ndarray) -> np.ndarray:
    wrapped = np.mod(np.asarray(angle, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi
    return wrapped.astype(np.float32)


def _timing(timestamps: np.ndarray) -> dict[str, Any]:
    """A series' timing: a perfectly regular clock as ``starting_time`` and ``rate`` (NWB
    Inspector's best practice), any other as its timestamps."""
    if _is_regular(timestamps):
        return {
            "starting_time": float(timestamps[0]),
            "rate": float(1.0 / (timestamps[1] - timestamps[0])),
        }
    return {"timestamps": _compressed(timestamps)}


def _is_regular(timestamps: np.ndarray) -> bool:
    """Regular as NWB Inspector judges it (intervals equal to 9 decimals)."""
    if timestamps.size < 3:
        return False
    steps = np.unique(np.round(np.diff(timestamps), 9))
    return steps.size == 1 and steps[0] > 0


def _camera_device(nwbfile: Any, camera_name: str) -> Any:
    from pynwb.device import Device, DeviceModel

    if camera_name in nwbfile.devices:
        return nwbfile.devices[camera_name]
    from ..cameras import CAMERA_PRESETS

    preset = CAMERA_PRESETS.get(camera_name)
    family = preset.family if preset is not None else "unknown"
    manufacturer, model_name = _MANUFACTURERS.get(family, ("unknown", camera_name))
    description = f"Depth camera filming the arena from above ({camera_name})"
    if preset is not None:
        rows, cols = preset.image_size
        description += f"; depth frames {cols}x{rows} pixels"
        if preset.field_of_view is not None:
            description += (
                f", field of view {preset.field_of_view[0]:g} x {preset.field_of_view[1]:g} degrees"
            )
    model = None
    if manufacturer != "unknown":
        model_key = f"{model_name} model"
        if model_key in nwbfile.device_models:
            model = nwbfile.device_models[model_key]
        else:
            model = DeviceModel(
                name=model_key,
                manufacturer=manufacturer,
                description=f"{manufacturer} {model_name}",
            )
            nwbfile.add_device_model(model)
    device = Device(name=camera_name, description=description, model=model)
    nwbfile.add_device(device)
    return device


def _subject(acquisition: Mapping[str, Any], subject: Any) -> Any:
    from pynwb.file import Subject

    if isinstance(subject, Subject):
        return subject
    fields: dict[str, Any] = {"sex": "U"}
    if acquisition.get("SubjectName"):
        fields["subject_id"] = str(acquisition["SubjectName"]).replace("/", "_")
    if subject is not None:
        if not isinstance(subject, Mapping):
            raise TypeError(
                "subject must be a pynwb.file.Subject or a dict of its fields (e.g. "
                f"{{'species': 'Mus musculus', 'age': 'P12W'}}), got {type(subject).__name__}"
            )
        fields.update(subject)
    missing = [
        name
        for name in ("subject_id", "species", "age")
        if not fields.get(name) and not (name == "age" and fields.get("date_of_birth"))
    ]
    if missing:
        warnings.warn(
            f"the subject has no {', '.join(missing)} (metadata.json gives only SubjectName); "
            "DANDI and NWB Inspector require them: pass e.g. subject={'subject_id': 'mouse-01', "
            "'species': 'Mus musculus', 'age': 'P12W', 'sex': 'M'} (--subject-id, --species, "
            "--age, --sex on the command line)",
            stacklevel=4,
        )
    return Subject(**fields)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def write_nwb(
    results: ExtractionResults,
    path_or_nwbfile: str | os.PathLike | Any,
    *,
    subject: Any = None,
    session_description: str | None = None,
    session_start_time: datetime | str | None = None,
    identifier: str | None = None,
    experimenter: str | list[str] | None = None,
    lab: str | None = None,
    institution: str | None = None,
    include_raw_video: Literal["external", "embedded"] | None = None,
    extractor: Any = None,
    overwrite: bool = False,
) -> Path | Any:
    """Write extraction results as NWB (see the module docstring for the layout).

    Parameters
    ----------
    results : ExtractionResults
        In memory or backed by ``results_00.h5``; frames and masks are streamed (read a buffer
        of :data:`BUFFER_FRAMES` frames at a time), never loaded whole.
    path_or_nwbfile : path-like or pynwb.NWBFile
        A ``.nwb`` path to write, or an open in-memory ``NWBFile`` to add the results to (the
        caller writes it; the frames are streamed then).
    subject : pynwb.file.Subject or dict, optional
        The animal. A dict of ``Subject`` fields completes the defaults from ``metadata.json``
        (``subject_id`` = ``SubjectName``, ``sex`` = ``"U"``). Species and age are not in
        ``metadata.json``; without them a warning says the file will not pass NWB Inspector.
    session_description : str, optional
        Defaults to a sentence naming ``SessionName``.
    session_start_time : datetime or ISO 8601 str, optional
        Defaults to the recording's: ``StartTime`` of ``metadata.json``, the first frame's clock
        time of a RealSense bag, or the creation time of an Azure ``.mkv``.
    identifier : str, optional
        Defaults to the extraction's uuid.
    experimenter, lab, institution : optional
        NWB file fields.
    include_raw_video : {None, "external", "embedded"}
        Also store the raw depth video (millimetres) in ``acquisition/depth_video``: as a link
        to the recording file (path relative to the NWB file) or embedded, streamed and
        compressed, for the extracted frame range. Needs ``extractor``.
    extractor : DepthVideoExtractor, optional
        The recording the results were extracted from (for ``include_raw_video``).
    overwrite : bool, default False
        Replace an existing file at ``path``.

    Returns
    -------
    pathlib.Path or pynwb.NWBFile
        The file written, or the ``NWBFile`` given.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ValueError
        If the session start time is unknown, or ``include_raw_video`` has no ``extractor``.
    """
    from pynwb import NWBHDF5IO, NWBFile

    if include_raw_video not in (None, "external", "embedded"):
        raise ValueError(
            f"include_raw_video must be None, 'external' or 'embedded', got {include_raw_video!r}"
        )
    if include_raw_video is not None and extractor is None:
        raise ValueError(
            f"include_raw_video={include_raw_video!r} needs the recording: pass "
            "extractor=<the DepthVideoExtractor the results were extracted from>"
        )
    if isinstance(path_or_nwbfile, NWBFile):
        given = {
            "subject": subject, "session_description": session_description,
            "session_start_time": session_start_time, "identifier": identifier,
            "experimenter": experimenter, "lab": lab, "institution": institution,
        }  # fmt: skip
        ignored = [name for name, value in given.items() if value is not None]
        if ignored:
            warnings.warn(
                f"{', '.join(ignored)} ignored: the NWBFile given already has its session and "
                "subject; set them on the NWBFile",
                stacklevel=3,
            )
        _add_results(
            results, path_or_nwbfile, include_raw_video=include_raw_video, extractor=extractor,
            nwb_dir=None,
        )  # fmt: skip
        return path_or_nwbfile

    path = Path(path_or_nwbfile)
    if path.suffix.lower() != ".nwb":
        warnings.warn(f"NWB files are named *.nwb; writing {path.name} anyway", stacklevel=3)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"the directory of {path} does not exist; create it or choose another path"
        )
    nwbfile = _new_nwbfile(
        results, subject=subject, session_description=session_description,
        session_start_time=session_start_time, identifier=identifier,
        experimenter=experimenter, lab=lab, institution=institution,
    )  # fmt: skip
    _add_results(
        results, nwbfile, include_raw_video=include_raw_video, extractor=extractor,
        nwb_dir=path.parent,
    )  # fmt: skip
    partial = path.with_name(path.name + ".partial")
    try:
        with warnings.catch_warnings():
            # pynwb warns that the temporary name does not end in .nwb; the final one does.
            warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
            with NWBHDF5IO(partial, "w") as io:
                io.write(nwbfile)
        os.replace(partial, path)
    except BaseException:
        if partial.exists():
            partial.unlink()
        raise
    return path


def _new_nwbfile(
    results: ExtractionResults,
    *,
    subject: Any,
    session_description: str | None,
    session_start_time: datetime | str | None,
    identifier: str | None,
    experimenter: str | list[str] | None,
    lab: str | None,
    institution: str | None,
) -> Any:
    from pynwb import NWBFile

    acquisition = dict(results.metadata.get("acquisition") or {})
    found = session_start_time or next(
        (acquisition[key] for key in _START_TIME_KEYS if acquisition.get(key)), None
    )
    start = _parse_start_time(found)
    if start is None:
        if session_start_time is not None:
            problem = f"session_start_time {session_start_time!r} is not an ISO 8601 date and time"
        elif found is None:
            problem = "the session start time is unknown (the recording's metadata has none)"
        else:
            problem = f"the recording's start time {found!r} is not an ISO 8601 date and time"
        raise ValueError(
            f"{problem}; pass session_start_time=datetime(..., tzinfo=...) or an ISO 8601 "
            "string such as '2024-05-01T10:30:00+02:00' (--session-start-time on the command line)"
        )
    session_name = acquisition.get("SessionName")
    if session_description is None:
        session_description = (
            f"Depth recording of session {session_name} extracted with depthextractors (MoSeq)"
            if session_name
            else "Depth recording extracted with depthextractors (MoSeq)"
        )
    uuid = results.metadata.get("uuid")
    from .._version import __version__

    kwargs: dict[str, Any] = {
        "session_description": str(session_description),
        "identifier": str(identifier or uuid or uuid_module.uuid4()),
        "session_start_time": start,
        "session_id": str(session_name or uuid or "").replace("/", "_") or None,
        "subject": _subject(acquisition, subject),
        "was_generated_by": [["depthextractors", str(__version__)]],
        "source_script": "depthextractors (https://github.com/depthextractors/depthextractors)",
        "source_script_file_name": "depthextractors/io/nwb.py",
    }
    if experimenter is not None:
        kwargs["experimenter"] = experimenter
    if lab is not None:
        kwargs["lab"] = lab
    if institution is not None:
        kwargs["institution"] = institution
    return NWBFile(**{k: v for k, v in kwargs.items() if v is not None})


def _add_results(
    results: ExtractionResults,
    nwbfile: Any,
    *,
    include_raw_video: str | None,
    extractor: Any,
    nwb_dir: Path | None,
) -> None:
    from pynwb import TimeSeries
    from pynwb.base import Images
    from pynwb.behavior import BehavioralTimeSeries, CompassDirection, Position, SpatialSeries
    from pynwb.image import GrayscaleImage, ImageSeries

    metadata = results.metadata
    parameters = dict(metadata.get("parameters") or {})
    num_frames = len(results)
    frames_shape = tuple(int(v) for v in results.frames.shape)
    timestamps = np.asarray(results.timestamps, dtype=np.float64)
    if timestamps.shape != (num_frames,):
        raise ValueError(
            f"the results have {num_frames} frames but {timestamps.size} timestamps; they must "
            "match one to one"
        )
    if num_frames == 0:
        raise ValueError("the results have no frames; there is nothing to export")
    if not np.all(np.isfinite(timestamps)) or np.any(np.diff(timestamps) < 0):
        raise ValueError(
            "the timestamps are not all finite and ascending; NWB needs one time per frame in "
            "ascending order (set the extractor's times with set_times before extracting)"
        )
    camera_name = str(
        parameters.get("camera_type")
        or (metadata.get("acquisition") or {}).get("CameraType")
        or "depth_camera"
    )
    device = _camera_device(nwbfile, camera_name)

    if MODULE_NAME in nwbfile.processing:
        module = nwbfile.processing[MODULE_NAME]
    else:
        module = nwbfile.create_processing_module(
            name=MODULE_NAME,
            description=(
                "Processed behavioral data from MoSeq depth extraction "
                f"({metadata.get('software', 'depthextractors')} "
                f"{metadata.get('version', 'unknown')}): the animal cropped and rotated (nose "
                "east), its position, heading, speeds and size per frame, and the arena"
            ),
        )

    timing = _timing(timestamps)
    regular = "rate" in timing

    true_depth = metadata.get("true_depth")
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
    # Every other series links to these timestamps instead of copying them.
    linked: dict[str, Any] = dict(timing) if regular else {"timestamps": video}

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

    # ---- scalars
    scalars = {name: np.asarray(results.scalars[name][:]) for name in results.scalars}
    for name, values in scalars.items():
        if values.shape != (num_frames,):
            raise ValueError(
                f"scalar {name!r} has shape {values.shape}; expected one value per frame "
                f"({num_frames},)"
            )
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

    # ---- arena images
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

    # ---- parameters and metadata
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

    if include_raw_video is not None:
        _add_raw_video(nwbfile, results, include_raw_video, extractor, device, nwb_dir)


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


def _source_file(extractor: Any) -> tuple[Any, Path | None]:
    source = extractor
    while source is not None:
        path = getattr(source, "file_path", None)
        if path is not None:
            return source, Path(path)
        source = getattr(source, "parent", None)
    return extractor, None


def _add_raw_video(
    nwbfile: Any,
    results: ExtractionResults,
    mode: str,
    extractor: Any,
    device: Any,
    nwb_dir: Path | None,
) -> None:
    from pynwb.image import ImageSeries

    if mode == "external":
        source, file_path = _source_file(extractor)
        if file_path is None:
            raise ValueError(
                f"{type(extractor).__name__} reads no file, so the raw video cannot be linked "
                "as an external file; use include_raw_video='embedded'"
            )
        if nwb_dir is not None:
            reference = os.path.relpath(file_path.resolve(), nwb_dir.resolve())
        else:
            reference = str(file_path)
            warnings.warn(
                f"the raw video is linked by the absolute path {reference}: the NWB file's "
                "location is unknown; NWB Inspector and DANDI want a path relative to it",
                stacklevel=4,
            )
        times = np.asarray(source.get_timestamps(), dtype=np.float64)
        rows, cols = source.get_image_size()
        timing = _timing(times)
        nwbfile.add_acquisition(
            ImageSeries(
                name=RAW_VIDEO_NAME,
                external_file=[reference],
                starting_frame=[0],
                format="external",
                unit="millimeters",
                dimension=[int(cols), int(rows)],
                description=(
                    f"Raw depth video ({cols}x{rows} pixels, millimetres from the camera) in "
                    f"the recording file {file_path.name}, all {times.size} frames"
                ),
                device=device,
                **timing,
            )
        )
        return
    first = int(results.metadata.get("first_frame_idx", 0))
    last = int(results.metadata.get("last_frame_idx", first + len(results)))
    if last - first != len(results):
        raise ValueError(
            f"the results cover frames {first}..{last} but hold {len(results)} frames; the raw "
            "video cannot be aligned with them"
        )
    clip = extractor.frame_slice(first, last)
    rows, cols = clip.get_image_size()
    video = nwbfile.processing[MODULE_NAME][VIDEO_NAME]
    # The same frames as the crops: their timestamps linked, or their rate.
    timing: dict[str, Any] = (
        {"timestamps": video}
        if video.timestamps is not None
        else {"starting_time": video.starting_time, "rate": video.rate}
    )
    nwbfile.add_acquisition(
        ImageSeries(
            name=RAW_VIDEO_NAME,
            data=_stream(_ExtractorFrames(clip), buffer_frames=64),
            unit="millimeters",
            format="raw",
            description=(
                f"Raw depth video ({cols}x{rows} pixels, millimetres from the camera, 0 = no "
                f"reading) of the extracted frames {first}..{last}"
            ),
            device=device,
            **timing,
        )
    )


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def read_nwb(path: str | os.PathLike) -> ExtractionResults:
    """Read results written by :func:`write_nwb` back into :class:`ExtractionResults`.

    Frames and masks stay on disk (read when sliced); scalars, timestamps, images and
    metadata are read at once.

    Parameters
    ----------
    path : path-like
        The ``.nwb`` file.

    Returns
    -------
    ExtractionResults
        ``path`` is the NWB file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it has no ``processing/behavior/processed_depth_video`` (not written by
        depthextractors or the Datta-lab layout).
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NWB file at {path}")
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        if (
            MODULE_NAME not in nwbfile.processing
            or VIDEO_NAME not in nwbfile.processing[MODULE_NAME].data_interfaces
        ):
            raise ValueError(
                f"{path} has no processing/{MODULE_NAME}/{VIDEO_NAME}; it was not written by "
                "ExtractionResults.to_nwb (expected the MoSeq extraction layout)"
            )
        module = nwbfile.processing[MODULE_NAME]
        interfaces = module.data_interfaces
        video = module[VIDEO_NAME]
        timestamps = np.asarray(video.get_timestamps(), dtype=np.float64)
        frames_name = video.data.name
        info = _read_key_value_table(module[METADATA_NAME]) if METADATA_NAME in interfaces else {}
        parameters = (
            _unflatten(_read_key_value_table(module[PARAMETERS_NAME]))
            if PARAMETERS_NAME in interfaces
            else {}
        )
        mask_name = module[MASK_NAME].data.name if MASK_NAME in interfaces else None

        scalars: dict[str, np.ndarray] = {}
        for name, (box, series_name, column, _unit) in _SCALAR_LAYOUT.items():
            if box not in interfaces:
                continue
            holder = interfaces[box]
            members = (
                holder.spatial_series if hasattr(holder, "spatial_series") else holder.time_series
            )
            if series_name not in members:
                continue
            data = members[series_name].data
            scalars[name] = np.asarray(data[:] if column is None else data[:, column])
        if OTHER_SCALARS_NAME in interfaces:
            for name, series in interfaces[OTHER_SCALARS_NAME].time_series.items():
                scalars[name] = np.asarray(series.data[:])
        if "valid" in interfaces:
            scalars["valid"] = np.asarray(interfaces["valid"].data[:], dtype=bool)
        flips = (
            np.asarray(interfaces["flipped_series"].data[:], dtype=bool)
            if "flipped_series" in interfaces
            else None
        )
        flip_confidence = (
            np.asarray(interfaces["flip_confidence"].data[:], dtype=np.float32)
            if "flip_confidence" in interfaces
            else None
        )
        metadata: dict[str, Any] = {}
        if IMAGES_NAME in interfaces:
            images = interfaces[IMAGES_NAME].images
            if "background" in images:
                metadata["background"] = np.asarray(images["background"].data[()])
            if "roi" in images:
                metadata["roi"] = np.asarray(images["roi"].data[()]) > 0
            if "first_frame" in images:
                metadata["first_frame"] = np.asarray(images["first_frame"].data[()])

    acquisition = _unflatten(
        {key[len("acquisition/") :]: v for key, v in info.items() if key.startswith("acquisition/")}
    )
    for key in ("uuid", "software", "version", "true_depth", "first_frame_idx", "last_frame_idx"):
        if info.get(key) is not None:
            metadata[key] = info[key]
    metadata["dropped_frame_count"] = int(info.get("dropped_frame_count", 0))
    metadata["dropped_after"] = np.asarray(info.get("dropped_after", []), dtype=np.int64)
    if info.get("roi_plane") is not None:
        metadata["roi_plane"] = tuple(info["roi_plane"])
    metadata["parameters"] = parameters
    metadata["acquisition"] = acquisition

    frames = LazyH5Array(path, frames_name)
    if mask_name is not None:
        frames_mask = LazyH5Array(path, mask_name, dtype=info.get("frames_mask_dtype"))
    else:
        frames_mask = LazyH5Array(path, frames_name, dtype=bool)
    return ExtractionResults(
        frames=frames,
        frames_mask=frames_mask,
        scalars=scalars,
        timestamps=timestamps,
        metadata=metadata,
        flips=flips,
        path=path,
        flip_confidence=flip_confidence,
    )
