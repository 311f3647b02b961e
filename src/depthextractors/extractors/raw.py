"""Raw ``depth.dat`` recordings: headerless little-endian uint16 frames, one after another."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cameras import CAMERA_PRESETS, CameraModel, detect_camera, get_camera
from .base import DEPTH_DTYPE, DepthVideoExtractor

__all__ = [
    "RawDepthExtractor",
    "read_session_metadata",
    "read_timestamp_file",
    "resolve_frame_size",
    "sidecar_path",
]

logger = logging.getLogger(__name__)

DEFAULT_SAMPLING_FREQUENCY = 30.0


def read_timestamp_file(path: str | os.PathLike, column: int = 0) -> np.ndarray:
    """Read a moseq timestamp file (``depth_ts.txt``): one frame per line, values in columns.

    Columns may be separated by spaces, tabs or commas. moseq acquisition writes the device
    time in milliseconds in the first column.

    Parameters
    ----------
    path : path-like
        The timestamp file.
    column : int, default 0
        Column to read.

    Returns
    -------
    numpy.ndarray
        float64 values of that column, one per non-empty line, in the file's unit (ms for
        ``depth_ts.txt``).

    Raises
    ------
    ValueError
        If a line lacks the column or holds a value that is not a number; the message names the
        line.
    """
    values = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.replace(",", " ").split()
            if not fields:
                continue
            try:
                values.append(float(fields[column]))
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}: line {line_number} has no number in column {column}: {line.strip()!r}"
                ) from None
    return np.asarray(values, dtype=np.float64)


def sidecar_path(data_path: Path, path: str | os.PathLike | None, default_name: str) -> Path | None:
    """Where a side file of a recording is: ``path`` as given, or ``default_name`` beside it.

    Parameters
    ----------
    data_path : pathlib.Path
        The recording.
    path : path-like, "auto" or None
        ``"auto"`` looks for ``default_name`` in the recording's folder (``None`` if absent);
        ``None`` means no side file; anything else is used as given.
    default_name : str
        File name to look for with ``"auto"`` (e.g. ``"metadata.json"``).
    """
    if path is None:
        return None
    if isinstance(path, str) and path == "auto":
        candidate = data_path.with_name(default_name)
        return candidate if candidate.is_file() else None
    return Path(path)


def read_session_metadata(path: Path | None) -> dict[str, Any]:
    """The JSON object in a session's ``metadata.json``; ``{}`` (with a warning) if unreadable.

    Parameters
    ----------
    path : pathlib.Path or None
        The ``metadata.json`` file; ``None`` gives ``{}``.

    Returns
    -------
    dict
    """
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            metadata = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        warnings.warn(f"could not read session metadata {path}: {error}", stacklevel=3)
        return {}
    if not isinstance(metadata, dict):
        warnings.warn(f"session metadata {path} is not a JSON object; ignored", stacklevel=3)
        return {}
    return metadata


def resolve_frame_size(
    source: str,
    camera: str | CameraModel,
    frame_size: tuple[int, int] | None,
    depth_bytes: int,
    itemsize: int,
    metadata: Callable[[], dict[str, Any]],
) -> tuple[int, int]:
    """The ``(rows, cols)`` of a headerless depth stream, as raw sessions find it.

    In order: ``frame_size`` (a (width, height) of a known camera is warned about), a camera
    preset, ``DepthResolution`` [width, height] in the session metadata, then the file size:
    Kinect v2 when it fits or when no preset does (moseq2-extract's assumption, so the caller's
    whole-frame check names the byte counts), else the only preset that divides it.

    Parameters
    ----------
    source : str
        What to name in messages (the file, or the archive member).
    camera : str or CameraModel
        As the extractors take it ("auto", a family, a preset name or a model).
    frame_size : tuple of int or None
        ``(rows, cols)`` given by the user.
    depth_bytes : int
        Size of the depth data, bytes.
    itemsize : int
        Bytes per sample (2).
    metadata : callable
        Returns the session metadata; called only when the size has to come from it.

    Returns
    -------
    tuple of int
        ``(rows, cols)`` in pixels.

    Raises
    ------
    ValueError
        If ``frame_size`` is malformed, or several presets fit and nothing else tells.
    """
    if frame_size is not None:
        size = tuple(int(v) for v in frame_size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"frame_size must be (rows, cols) of positive ints, got {frame_size}")
        swapped = detect_camera(size[::-1])
        if swapped.name != "unknown" and detect_camera(size).name == "unknown":
            warnings.warn(
                f"frame_size is (rows, cols); {size} looks like the (width, height) of "
                f"{swapped.name}, whose frames are {swapped.image_size} (rows, cols)",
                stacklevel=3,
            )
        return size
    if isinstance(camera, CameraModel):
        return camera.image_size
    if isinstance(camera, str) and camera in CAMERA_PRESETS:
        return CAMERA_PRESETS[camera].image_size
    resolution = metadata().get("DepthResolution")
    if resolution is not None:
        try:
            width, height = (int(v) for v in resolution)
        except (TypeError, ValueError):
            warnings.warn(
                f"DepthResolution in {source}'s metadata.json should be [width, height], got "
                f"{resolution!r}; ignored",
                stacklevel=3,
            )
        else:
            return height, width
    family = None if camera == "auto" else camera
    candidates = list(
        dict.fromkeys(
            preset.image_size
            for preset in CAMERA_PRESETS.values()
            if family in (None, preset.family)
            and depth_bytes % (preset.rows * preset.cols * itemsize) == 0
        )
    )
    kinect = CAMERA_PRESETS["kinect_v2"].image_size
    if family in (None, "kinect") and (kinect in candidates or not candidates):
        return kinect
    if len(candidates) == 1:
        logger.info("%s: frame size %s inferred from the file size", source, candidates[0])
        return candidates[0]
    raise ValueError(
        f"cannot tell the frame size of {source} ({depth_bytes} bytes): "
        + (
            f"it is a whole number of frames for several cameras {candidates}"
            if candidates
            else "it is not a whole number of frames of any known camera"
        )
        + "; pass frame_size=(rows, cols) or camera=<preset>, or put metadata.json with "
        "DepthResolution [width, height] beside it"
    )


class RawDepthExtractor(DepthVideoExtractor):
    """A raw depth file (``depth.dat``) read lazily; opening it reads no frames.

    Frames are read with plain positioned file reads rather than a memory map, so reading a
    whole session never grows the process's resident memory beyond the frames asked for.

    Parameters
    ----------
    file_path : path-like
        The raw depth file.
    camera : str or CameraModel, default "auto"
        ``"auto"`` detects the camera from the frame size; a family (``"kinect"``, ``"azure"``,
        ``"realsense"``), a preset name from :data:`depthextractors.cameras.CAMERA_PRESETS`, or a
        :class:`~depthextractors.cameras.CameraModel`.
    frame_size : tuple of int, optional
        ``(rows, cols)`` of a frame (note: rows first, unlike moseq2's ``(width, height)``).
        Otherwise taken from ``camera`` (a preset), then from ``DepthResolution`` in
        ``metadata.json`` beside the file, then from the Kinect v2 default (424, 512) or the only
        camera preset whose frame size divides the file.
    dtype : str, default "<u2"
        On-disk sample type: ``"<u2"`` (little-endian, Kinect, RealSense) or ``">u2"``.
    sampling_frequency : float, optional
        Frame rate in Hz; otherwise the median interval of the timestamps, else 30 Hz.
    timestamps_path : path-like, "auto" or None, default "auto"
        Timestamp file (first column, milliseconds); ``"auto"`` uses ``depth_ts.txt`` beside the
        file when present; ``None`` uses none.
    metadata_path : path-like, "auto" or None, default "auto"
        Session metadata JSON; ``"auto"`` uses ``metadata.json`` beside the file when present.
    allow_partial_frame : bool, default False
        When the file size is not a whole number of frames, keep the whole frames (with a
        warning) instead of raising.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, not a whole number of frames, or its frame size cannot be found.
    """

    extractor_name = "RawDepthExtractor"

    def __init__(
        self,
        file_path: str | os.PathLike,
        camera: str | CameraModel = "auto",
        frame_size: tuple[int, int] | None = None,
        dtype: str = "<u2",
        sampling_frequency: float | None = None,
        timestamps_path: str | os.PathLike | None = "auto",
        metadata_path: str | os.PathLike | None = "auto",
        allow_partial_frame: bool = False,
    ) -> None:
        super().__init__()
        self.file_path = Path(file_path)
        if not self.file_path.exists():
            raise FileNotFoundError(f"no depth file at {self.file_path}")
        if self.file_path.is_dir():
            raise IsADirectoryError(
                f"{self.file_path} is a directory; pass the depth file inside it, or use "
                "open_depth_video(directory) to find it"
            )
        self._file_dtype = np.dtype(dtype)
        if self._file_dtype.kind != "u" or self._file_dtype.itemsize != 2:
            raise ValueError(f"dtype must be '<u2' or '>u2' (16-bit unsigned), got {dtype!r}")

        self._metadata = read_session_metadata(
            sidecar_path(self.file_path, metadata_path, "metadata.json")
        )
        file_bytes = self.file_path.stat().st_size
        if file_bytes == 0:
            raise ValueError(f"{self.file_path} is empty (0 bytes): it holds no depth frames")
        self._image_size = resolve_frame_size(
            str(self.file_path),
            camera,
            frame_size,
            file_bytes,
            self._file_dtype.itemsize,
            lambda: self._metadata,
        )
        self._camera = get_camera(camera, self._image_size)
        frame_bytes = self._image_size[0] * self._image_size[1] * self._file_dtype.itemsize
        self._frame_bytes = frame_bytes
        self._num_frames, leftover = divmod(file_bytes, frame_bytes)
        if self._num_frames == 0:
            raise ValueError(
                f"{self.file_path} has {file_bytes} bytes, less than one frame of {frame_bytes} "
                f"bytes ({self._image_size[0]}x{self._image_size[1]} uint16)"
            )
        if leftover:
            message = (
                f"{self.file_path} has {file_bytes} bytes, which is {self._num_frames} whole "
                f"frames of {frame_bytes} bytes ({self._image_size[0]}x{self._image_size[1]} "
                f"uint16) plus {leftover} extra bytes"
            )
            if not allow_partial_frame:
                raise ValueError(
                    message + "; check frame_size / camera, or pass allow_partial_frame=True "
                    "to read the whole frames only"
                )
            warnings.warn(message + "; the extra bytes are ignored", stacklevel=2)
        self._timestamps = self._load_timestamps(timestamps_path)
        self._sampling_frequency = self._resolve_sampling_frequency(sampling_frequency)

    # ------------------------------------------------------------------ set-up
    def _load_timestamps(self, timestamps_path) -> np.ndarray | None:
        path = sidecar_path(self.file_path, timestamps_path, "depth_ts.txt")
        if path is None:
            return None
        try:
            timestamps_ms = read_timestamp_file(path)
        except (OSError, ValueError) as error:
            warnings.warn(
                f"could not read timestamps ({error}); frame times will be frame / frame rate",
                stacklevel=3,
            )
            return None
        if timestamps_ms.size != self._num_frames:
            if timestamps_ms.size > self._num_frames:
                warnings.warn(
                    f"{path} has {timestamps_ms.size} timestamps but {self.file_path} has "
                    f"{self._num_frames} frames; the first {self._num_frames} timestamps are used",
                    stacklevel=3,
                )
                timestamps_ms = timestamps_ms[: self._num_frames]
            else:
                warnings.warn(
                    f"{path} has {timestamps_ms.size} timestamps but {self.file_path} has "
                    f"{self._num_frames} frames; frame times will be frame / frame rate",
                    stacklevel=3,
                )
                return None
        if np.any(np.diff(timestamps_ms) < 0) or not np.all(np.isfinite(timestamps_ms)):
            warnings.warn(
                f"{path} has timestamps that go backwards or are not finite; frame times will be "
                "frame / frame rate",
                stacklevel=3,
            )
            return None
        return timestamps_ms / 1000.0

    def _resolve_sampling_frequency(self, sampling_frequency: float | None) -> float:
        if sampling_frequency is not None:
            value = float(sampling_frequency)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"sampling_frequency must be a positive number of Hz, got {value}")
            return value
        if self._timestamps is not None and self._timestamps.size > 1:
            interval = float(np.median(np.diff(self._timestamps)))
            if interval > 0:
                return 1.0 / interval
        warnings.warn(
            f"{self.file_path}: no sampling_frequency given and no usable timestamps; assuming "
            f"{DEFAULT_SAMPLING_FREQUENCY:g} Hz",
            stacklevel=3,
        )
        return DEFAULT_SAMPLING_FREQUENCY

    # ------------------------------------------------------------------ the interface
    def get_image_size(self) -> tuple[int, int]:
        return self._image_size

    def get_num_frames(self) -> int:
        return self._num_frames

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def get_native_timestamps(self) -> np.ndarray | None:
        return self._timestamps

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    @property
    def file_dtype(self) -> np.dtype:
        """Sample type on disk (``<u2`` or ``>u2``)."""
        return self._file_dtype

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        rows, cols = self._image_size
        count = end_frame - start_frame
        video = np.empty((count, rows, cols), dtype=self._file_dtype)
        if count == 0:
            return video.astype(DEPTH_DTYPE)
        # A fresh handle per read keeps reads thread-safe and the extractor picklable.
        with open(self.file_path, "rb", buffering=0) as handle:
            handle.seek(start_frame * self._frame_bytes)
            buffer = memoryview(video).cast("B")
            done = 0
            while done < buffer.nbytes:
                got = handle.readinto(buffer[done:])
                if not got:
                    break
                done += got
        if done != count * self._frame_bytes:
            raise OSError(
                f"{self.file_path}: read {done} bytes for frames {start_frame}..{end_frame} but "
                f"expected {count * self._frame_bytes}; the file shrank after it was opened"
            )
        if self._file_dtype != DEPTH_DTYPE:
            video = video.byteswap().view(video.dtype.newbyteorder())
        return video.view(DEPTH_DTYPE) if video.dtype == DEPTH_DTYPE else video.astype(DEPTH_DTYPE)
