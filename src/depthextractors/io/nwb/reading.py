"""Reading an NWB file of MoSeq results (written by :func:`~depthextractors.io.nwb.write_nwb`, or
the Datta-lab files on DANDI) into :class:`~depthextractors.io.results.ExtractionResults`."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..hdf5 import LazyH5Array
from ..results import ExtractionResults
from .layout import (
    _SCALAR_LAYOUT,
    CLOCK_OFFSET_KEY,
    IMAGES_NAME,
    MASK_NAME,
    METADATA_NAME,
    MODULE_NAME,
    PARAMETERS_NAME,
    VIDEO_NAME,
    _read_key_value_table,
    _unflatten,
)


def read_nwb(path: str | os.PathLike) -> ExtractionResults:
    """Read an NWB file of MoSeq results into :class:`ExtractionResults`.

    Files written by :func:`write_nwb` read back as they were written (frames and masks stay
    on disk, read when sliced; timestamps back on the recording's clock). Files of the
    Datta-lab layout without frames (``processing/behavior/Position/SpatialSeries`` and
    ``CompassDirection/HeadOrientation``, as published on DANDI) read as scalars-only results:
    ``frames`` and ``frames_mask`` are None, the scalars are ``centroid_x_mm``,
    ``centroid_y_mm``, ``height_ave_mm`` and ``angle`` plus any other per-frame series of the
    module under its own name, the timestamps are the file's (seconds from its session start).

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
        If it has no MoSeq results in ``processing/behavior``.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NWB file at {path}")
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        interfaces = _results_module(nwbfile, path).data_interfaces
        info = (
            _read_key_value_table(interfaces[METADATA_NAME]) if METADATA_NAME in interfaces else {}
        )
        parameters = (
            _unflatten(_read_key_value_table(interfaces[PARAMETERS_NAME]))
            if PARAMETERS_NAME in interfaces
            else {}
        )
        video = interfaces.get(VIDEO_NAME)
        timestamps, scalars = _read_scalars(interfaces, video, path)
        masks = interfaces.get(MASK_NAME)
        flips = _series(interfaces, "flipped_series", bool)
        flip_confidence = _series(interfaces, "flip_confidence", np.float32)
        tracked_again = _series(interfaces, "tracked_again", bool)
        metadata = _read_metadata(info, parameters, _read_images(interfaces))
        if METADATA_NAME not in interfaces:
            metadata["acquisition"] = _session_of(nwbfile)
        frames_name = None if video is None else video.data.name
        mask_name = None if masks is None else masks.data.name
    timestamps = timestamps + float(info.get(CLOCK_OFFSET_KEY) or 0.0)
    frames = frames_mask = None
    if frames_name is not None:
        frames = LazyH5Array(path, frames_name)
        frames_mask = (
            LazyH5Array(path, mask_name, dtype=info.get("frames_mask_dtype"))
            if mask_name is not None
            else LazyH5Array(path, frames_name, dtype=bool)
        )
    return ExtractionResults(
        frames=frames,
        frames_mask=frames_mask,
        scalars=scalars,
        timestamps=timestamps,
        metadata=metadata,
        flips=flips,
        path=path,
        flip_confidence=flip_confidence,
        tracked_again=tracked_again,
    )


def _results_module(nwbfile: Any, path: Path) -> Any:
    """The behavior processing module holding the results (ValueError when there is none)."""
    module = nwbfile.processing.get(MODULE_NAME)
    known = {box for box, *_ in _SCALAR_LAYOUT.values()} | {VIDEO_NAME}
    if module is None or not known & set(module.data_interfaces):
        raise ValueError(
            f"{path} has no MoSeq results in processing/{MODULE_NAME} (neither "
            f"{VIDEO_NAME} nor Position/SpatialSeries); it was not written by "
            "ExtractionResults.to_nwb nor in the Datta-lab layout"
        )
    return module


def _series(interfaces: Any, name: str, dtype: Any) -> np.ndarray | None:
    if name not in interfaces:
        return None
    return np.asarray(interfaces[name].data[:], dtype=dtype)


def _read_scalars(
    interfaces: Any, video: Any, path: Path
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The timestamps (s, the file's clock) and the per-frame scalars under their moseq2 names:
    the series of the layout, and any other one-value-per-frame series under its own name."""
    columns = {(box, series): [] for box, series, _, _ in _SCALAR_LAYOUT.values()}
    for name, (box, series, column, _unit) in _SCALAR_LAYOUT.items():
        columns[(box, series)].append((column, name))
    timestamps = None if video is None else np.asarray(video.get_timestamps(), dtype=np.float64)
    scalars: dict[str, np.ndarray] = {}
    for box_name, box in interfaces.items():
        members = getattr(box, "spatial_series", None) or getattr(box, "time_series", None)
        if not members:
            continue
        for series_name, series in members.items():
            if timestamps is None:
                timestamps = np.asarray(series.get_timestamps(), dtype=np.float64)
            data = series.data
            if data.shape[0] != timestamps.size:
                warnings.warn(
                    f"{path}: {box_name}/{series_name} has {data.shape[0]} values for "
                    f"{timestamps.size} frames; it is not read",
                    stacklevel=3,
                )
                continue
            for column, name in columns.get((box_name, series_name), [(None, series_name)]):
                values = data[:] if column is None else data[:, column]
                if np.ndim(values) == 1:
                    scalars[name] = np.asarray(values)
    if "valid" in interfaces:
        scalars["valid"] = np.asarray(interfaces["valid"].data[:], dtype=bool)
    return timestamps, scalars


def _session_of(nwbfile: Any) -> dict[str, Any]:
    """metadata.json's keys from the NWB file's session and subject (files of other tools)."""
    session = {
        "SessionName": nwbfile.session_id,
        "StartTime": nwbfile.session_start_time.isoformat(),
        "SubjectName": None if nwbfile.subject is None else nwbfile.subject.subject_id,
    }
    return {key: value for key, value in session.items() if value is not None}


def _read_images(interfaces: Any) -> dict[str, np.ndarray]:
    """Background, ROI (bool) and first frame, as far as the file has them."""
    metadata: dict[str, Any] = {}
    if IMAGES_NAME in interfaces:
        images = interfaces[IMAGES_NAME].images
        if "background" in images:
            metadata["background"] = np.asarray(images["background"].data[()])
        if "roi" in images:
            metadata["roi"] = np.asarray(images["roi"].data[()]) > 0
        if "first_frame" in images:
            metadata["first_frame"] = np.asarray(images["first_frame"].data[()])
    return metadata


def _read_metadata(
    info: dict[str, Any], parameters: dict[str, Any], images: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The results' metadata from the metadata table, the parameters and the arena images."""
    metadata: dict[str, Any] = dict(images)
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
    return metadata
