"""Reading an NWB file written by :func:`~depthextractors.io.nwb.write_nwb` back into
:class:`~depthextractors.io.results.ExtractionResults`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..hdf5 import LazyH5Array
from ..results import ExtractionResults
from .layout import (
    _SCALAR_LAYOUT,
    IMAGES_NAME,
    MASK_NAME,
    METADATA_NAME,
    MODULE_NAME,
    OTHER_SCALARS_NAME,
    PARAMETERS_NAME,
    VIDEO_NAME,
    _read_key_value_table,
    _unflatten,
)


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
        module = _results_module(io.read(), path)
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
        scalars = _read_scalars(interfaces)
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
        images = _read_images(interfaces)
    metadata = _read_metadata(info, parameters, images)
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


def _results_module(nwbfile: Any, path: Path) -> Any:
    """The behavior processing module holding the results (ValueError when there is none)."""
    if (
        MODULE_NAME not in nwbfile.processing
        or VIDEO_NAME not in nwbfile.processing[MODULE_NAME].data_interfaces
    ):
        raise ValueError(
            f"{path} has no processing/{MODULE_NAME}/{VIDEO_NAME}; it was not written by "
            "ExtractionResults.to_nwb (expected the MoSeq extraction layout)"
        )
    return nwbfile.processing[MODULE_NAME]


def _read_scalars(interfaces: Any) -> dict[str, np.ndarray]:
    """The per-frame scalars under their moseq2 names."""
    scalars: dict[str, np.ndarray] = {}
    for name, (box, series_name, column, _unit) in _SCALAR_LAYOUT.items():
        if box not in interfaces:
            continue
        holder = interfaces[box]
        members = holder.spatial_series if hasattr(holder, "spatial_series") else holder.time_series
        if series_name not in members:
            continue
        data = members[series_name].data
        scalars[name] = np.asarray(data[:] if column is None else data[:, column])
    if OTHER_SCALARS_NAME in interfaces:
        for name, series in interfaces[OTHER_SCALARS_NAME].time_series.items():
            scalars[name] = np.asarray(series.data[:])
    if "valid" in interfaces:
        scalars["valid"] = np.asarray(interfaces["valid"].data[:], dtype=bool)
    return scalars


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
