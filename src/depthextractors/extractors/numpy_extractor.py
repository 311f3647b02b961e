"""An in-memory depth video, for tests, pipelines and synthetic data."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cameras import CameraModel, get_camera
from .base import DEPTH_DTYPE, DepthVideoExtractor

__all__ = ["NumpyDepthExtractor"]


class NumpyDepthExtractor(DepthVideoExtractor):
    """Depth frames held in a numpy array.

    Parameters
    ----------
    video : numpy.ndarray
        ``(frames, rows, cols)`` depth in millimetres. Unsigned 16-bit data is used without a
        copy; other integer types are accepted when every value fits in uint16.
    sampling_frequency : float
        Frame rate in Hz.
    timestamps : array_like, optional
        Time of each frame in seconds (the "native" timestamps of this video).
    metadata : dict, optional
        Session metadata returned by :meth:`get_metadata`.
    camera : str or CameraModel, default "auto"
        Camera preset, family or model; ``"auto"`` detects it from the frame size.
    """

    extractor_name = "NumpyDepthExtractor"

    def __init__(
        self,
        video: np.ndarray,
        sampling_frequency: float,
        timestamps: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
        camera: str | CameraModel = "auto",
    ) -> None:
        super().__init__()
        given = video
        video = np.asarray(video)
        if video.ndim != 3:
            raise ValueError(
                f"video must have shape (frames, rows, cols); got {video.ndim} dimensions "
                f"{video.shape}"
            )
        if video.dtype != DEPTH_DTYPE:
            if not np.issubdtype(video.dtype, np.integer):
                raise TypeError(
                    f"video must hold integer millimetres (uint16), got dtype {video.dtype}; "
                    "round and convert it first, e.g. np.rint(video).astype(np.uint16)"
                )
            if video.size and (video.min() < 0 or video.max() > np.iinfo(DEPTH_DTYPE).max):
                raise ValueError(
                    f"video values must lie in 0..65535 mm to fit uint16; found "
                    f"{video.min()}..{video.max()}"
                )
            video = video.astype(DEPTH_DTYPE)
            # Pickled copies take the uint16 frames, not the wider array the caller may drop.
            self._record_argument(given, video)
        sampling_frequency = float(sampling_frequency)
        if not np.isfinite(sampling_frequency) or sampling_frequency <= 0:
            raise ValueError(
                f"sampling_frequency must be a positive number of Hz, got {sampling_frequency}"
            )
        self._video = video
        self._sampling_frequency = sampling_frequency
        self._metadata = dict(metadata or {})
        self._native_timestamps = None
        if timestamps is not None:
            values = np.asarray(timestamps, dtype=np.float64)
            if values.shape != (video.shape[0],):
                raise ValueError(
                    f"timestamps must have one value per frame ({video.shape[0]}), got shape "
                    f"{values.shape}"
                )
            self._native_timestamps = values
        self._camera = get_camera(camera, video.shape[1:])

    def get_image_size(self) -> tuple[int, int]:
        return int(self._video.shape[1]), int(self._video.shape[2])

    def get_num_frames(self) -> int:
        return int(self._video.shape[0])

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        return self._video[start_frame:end_frame].copy()

    def _read_frames(self, indices: np.ndarray) -> np.ndarray:
        return self._video[indices]

    def get_native_timestamps(self) -> np.ndarray | None:
        return self._native_timestamps

    def _native_timestamps_source(self) -> str:
        return "given"

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)
