"""Raw ``depth.dat`` recordings: headerless little-endian uint16 frames, one after another."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ..cameras import CameraModel
from .base import DEPTH_DTYPE, DepthVideoExtractor
from .sidecar import (
    check_not_infrared,
    check_recording_path,
    read_session_metadata,
    resolve_camera,
    resolve_frame_size,
    resolve_sampling_frequency,
    sidecar_path,
)
from .timestamp_files import TIMES_FROM_RATE, load_timestamps

__all__ = ["RawDepthExtractor"]


class RawDepthExtractor(DepthVideoExtractor):
    """A raw depth file (``depth.dat``) read lazily; opening it reads no frames.

    Frames are read with plain positioned file reads rather than a memory map, so reading a
    whole session never grows the process's resident memory beyond the frames asked for.

    Parameters
    ----------
    file_path : path-like
        The raw depth file.
    camera : str or CameraModel, default "auto"
        ``"auto"`` takes ``CameraType`` from ``metadata.json`` beside the file when it names a
        preset of the frames' size, else detects the camera from the frame size; a family
        (``"kinect"``, ``"azure"``, ``"realsense"``), a preset name from
        :data:`depthextractors.cameras.CAMERA_PRESETS`, or a
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
        file when present; ``None`` uses none. Unusable lines are repaired one by one with a
        warning; a file that does not fit the frames is left unused, with a warning, and
        :attr:`timestamps_source` then says the times are made up from the frame rate.
    metadata_path : path-like, "auto" or None, default "auto"
        Session metadata JSON; ``"auto"`` uses ``metadata.json`` beside the file when present.
    allow_partial_frame : bool, default False
        When the file size is not a whole number of frames, keep the whole frames (with a
        warning) instead of raising.
    allow_ir : bool, default False
        Read a file named ``ir.*`` (moseq's infrared recording), which is refused otherwise.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, not a whole number of frames, its frame size cannot be found, or
        it is named ``ir.*`` (without ``allow_ir``).
    """

    extractor_name = "RawDepthExtractor"
    reads_anywhere = True

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
        allow_ir: bool = False,
    ) -> None:
        super().__init__()
        self.file_path = check_recording_path(
            file_path,
            "depth file",
            "pass the depth file inside it, or use open_depth_video(directory) to find it",
        )
        check_not_infrared(self.file_path, allow_ir)
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
        self._camera = resolve_camera(camera, self._image_size, self._metadata.get("CameraType"))
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
        self._timestamps_path = sidecar_path(self.file_path, timestamps_path, "depth_ts.txt")
        self._timestamps = load_timestamps(
            self._timestamps_path,
            self._num_frames,
            self.file_path,
            TIMES_FROM_RATE,
        )
        self._sampling_frequency = resolve_sampling_frequency(
            sampling_frequency, self._timestamps, self.file_path
        )

    # ------------------------------------------------------------------ the interface
    def get_image_size(self) -> tuple[int, int]:
        return self._image_size

    def get_num_frames(self) -> int:
        return self._num_frames

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def get_native_timestamps(self) -> np.ndarray | None:
        return self._timestamps

    def _native_timestamps_source(self) -> str:
        return self._timestamps_path.name

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
