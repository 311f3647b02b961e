"""The lazy depth-video object model every format implements.

A format subclasses :class:`DepthVideoExtractor` and implements four methods
(:meth:`~DepthVideoExtractor.get_image_size`, :meth:`~DepthVideoExtractor.get_num_frames`,
:meth:`~DepthVideoExtractor.get_sampling_frequency`, :meth:`~DepthVideoExtractor.get_video`);
the base class gives slicing, random access, chunked iteration, times and the camera model.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..cameras import CameraModel, get_camera
from .frame_ranges import FrameChunk, as_frame_index, check_slice_request, resolve_frame_range

__all__ = [
    "TIMESTAMPS_FROM_CONTAINER",
    "TIMESTAMPS_MADE_UP",
    "TIMESTAMPS_SET",
    "DepthVideoExtractor",
    "FrameChunk",
    "FrameSliceDepthExtractor",
]

DEPTH_DTYPE = np.dtype(np.uint16)

#: :attr:`DepthVideoExtractor.timestamps_source` of times set with ``set_times``.
TIMESTAMPS_SET = "set with set_times"
#: ... of the recording's own per-frame times (block times, header stamps, stream pts).
TIMESTAMPS_FROM_CONTAINER = "container"
#: ... when no usable times exist and ``frame / sampling_frequency`` stands in for them.
TIMESTAMPS_MADE_UP = "made up from the frame rate"


class DepthVideoExtractor(ABC):
    """Abstract, lazy depth video: frames of uint16 millimetres, shape ``(frames, rows, cols)``.

    Subclasses implement :meth:`get_image_size`, :meth:`get_num_frames`,
    :meth:`get_sampling_frequency` and :meth:`get_video`, and may override
    :meth:`get_native_timestamps` (seconds), :meth:`get_metadata` and :meth:`_read_frames`
    (random access). The base class validates the arguments of every subclass's ``get_video``
    before it runs (so an implementation receives ints with ``0 <= start <= end <= frames``) and
    checks what it returns: a read that gives the wrong number of frames raises instead of
    passing a short read on.

    Every extractor pickles (batch runs send extractors to other processes): the base class
    records the arguments each one was constructed with, and a pickled copy is constructed again
    from them, so it opens its files afresh (and warns as the original did); times set with
    :meth:`set_times` and a camera set with :meth:`set_camera` travel with it. A subclass needs
    no code of its own for this, as long as its constructor arguments pickle and it keeps no
    other state set after construction.
    """

    extractor_name: str = "DepthVideoExtractor"
    #: Whether a copy of the extractor in another process reads any range of frames about as
    #: fast as the frames in order (a file read at an offset, no decoder to run from a key
    #: frame): the extraction then lets worker processes read and work on blocks of frames.
    reads_anywhere: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_video" in cls.__dict__:
            cls.get_video = _checked_get_video(cls.__dict__["get_video"])

    def __new__(cls, *args: Any, **kwargs: Any) -> DepthVideoExtractor:
        self = super().__new__(cls)
        # What a pickled copy is built from (see __reduce__).
        self._constructor_arguments = (args, kwargs)
        return self

    def __init__(self) -> None:
        self._times: np.ndarray | None = None
        self._camera: CameraModel | None = None

    # ------------------------------------------------------------------ what a format implements
    @abstractmethod
    def get_image_size(self) -> tuple[int, int]:
        """Frame size ``(rows, cols)`` in pixels."""

    @abstractmethod
    def get_num_frames(self) -> int:
        """Number of frames in the video."""

    @abstractmethod
    def get_sampling_frequency(self) -> float:
        """Nominal frame rate in frames per second (Hz)."""

    @abstractmethod
    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        """Frames ``[start_frame, end_frame)`` as ``(frames, rows, cols)`` uint16 millimetres.

        Parameters
        ----------
        start_frame, end_frame : int, optional
            Python-slice semantics: ``None`` for the start / end, negative values count from the
            end, values past the end are clamped. A start after the end raises ``ValueError``.

        Returns
        -------
        numpy.ndarray
            A new array (never a view of internal buffers) of dtype uint16.
        """

    def get_native_timestamps(self) -> np.ndarray | None:
        """Per-frame device times in seconds, or ``None`` if the format records none."""
        return None

    def get_metadata(self) -> dict[str, Any]:
        """Session metadata (for raw sessions, the contents of ``metadata.json``)."""
        return {}

    # ------------------------------------------------------------------ what the base class gives
    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = self._constructor_arguments
        return (
            _rebuild,
            (type(self), args, kwargs),
            {"_times": self._times, "_camera": self._camera},
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._times = state["_times"]
        self._camera = state["_camera"]

    def _record_argument(self, given: Any, used: Any) -> None:
        """Build pickled copies with ``used`` where the constructor was given ``given``.

        For a constructor that converts an argument (a wider integer array to uint16, say):
        the copy then gets the converted value, and the original, which the caller may have
        dropped, is not kept alive by this extractor.
        """
        args, kwargs = self._constructor_arguments
        self._constructor_arguments = (
            tuple(used if value is given else value for value in args),
            {name: used if value is given else value for name, value in kwargs.items()},
        )

    def __len__(self) -> int:
        return self.get_num_frames()

    def __repr__(self) -> str:
        rows, cols = self.get_image_size()
        return (
            f"{type(self).__name__}({self.get_num_frames()} frames of {rows}x{cols}, "
            f"{self.get_sampling_frequency():g} Hz)"
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(frames, rows, cols)``."""
        rows, cols = self.get_image_size()
        return self.get_num_frames(), rows, cols

    def get_dtype(self) -> np.dtype:
        """Data type of the frames :meth:`get_video` returns (always native uint16)."""
        return DEPTH_DTYPE

    @property
    def camera(self) -> CameraModel:
        """The camera model, detected from the frame size unless set with :meth:`set_camera`."""
        if self._camera is None:
            self._camera = get_camera("auto", self.get_image_size())
        return self._camera

    def set_camera(self, camera: str | CameraModel) -> None:
        """Set the camera (a preset name, a family name or a :class:`CameraModel`).

        Parameters
        ----------
        camera : str or CameraModel
            ``"auto"`` (from the frame size), a preset (``"kinect_v2"``, ...), a family
            (``"kinect"``, ``"azure"``, ``"realsense"``: the preset of that family with this
            video's frame size) or a camera model.
        """
        self._camera = get_camera(camera, self.get_image_size())

    def get_frames(self, frame_indices: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at arbitrary indices, with numpy indexing semantics.

        Parameters
        ----------
        frame_indices : int, sequence of int, or array of int or bool
            Any order, repeats and negative indices are allowed; a boolean mask must have one
            entry per frame. A single int returns one ``(rows, cols)`` frame.

        Returns
        -------
        numpy.ndarray
            ``(len(frame_indices), rows, cols)`` uint16, in the order asked for.

        Raises
        ------
        IndexError
            If an index is outside ``[-frames, frames)``.
        """
        num_frames = self.get_num_frames()
        if np.isscalar(frame_indices) or (
            isinstance(frame_indices, np.ndarray) and frame_indices.ndim == 0
        ):
            index = as_frame_index(frame_indices, "frame index")
            if not -num_frames <= index < num_frames:
                raise IndexError(
                    f"frame index {index} is out of range for a video of {num_frames} frames "
                    f"(allowed: {-num_frames}..{num_frames - 1})"
                )
            index %= num_frames
            return self.get_video(index, index + 1)[0]
        indices = np.asarray(frame_indices)
        if indices.dtype == bool:
            if indices.shape != (num_frames,):
                raise IndexError(
                    f"a boolean frame mask must have one entry per frame ({num_frames}); "
                    f"got shape {indices.shape}"
                )
            indices = np.flatnonzero(indices)
        elif indices.size == 0:
            indices = indices.astype(np.int64)
        elif not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(
                f"frame indices must be integers or a boolean mask, got dtype {indices.dtype}"
            )
        if indices.ndim != 1:
            raise IndexError(f"frame indices must be one-dimensional, got shape {indices.shape}")
        if indices.size and (indices.min() < -num_frames or indices.max() >= num_frames):
            bad = indices[(indices < -num_frames) | (indices >= num_frames)][0]
            raise IndexError(
                f"frame index {bad} is out of range for a video of {num_frames} frames "
                f"(allowed: {-num_frames}..{num_frames - 1})"
            )
        indices = np.where(indices < 0, indices + num_frames, indices).astype(np.int64)
        return self._read_frames(indices)

    def _read_frames(self, indices: np.ndarray) -> np.ndarray:
        """Read frames at valid, non-negative ``indices``; reads each sorted run once."""
        rows, cols = self.get_image_size()
        out = np.empty((indices.size, rows, cols), dtype=DEPTH_DTYPE)
        if indices.size == 0:
            return out
        unique, inverse = np.unique(indices, return_inverse=True)
        # Break the sorted unique indices into runs of consecutive frames; each run is one read.
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        position = 0
        for run in np.split(unique, breaks):
            block = self.get_video(int(run[0]), int(run[-1]) + 1)
            positions = np.flatnonzero((inverse >= position) & (inverse < position + run.size))
            out[positions] = block[inverse[positions] - position]
            position += run.size
        return out

    def frame_slice(
        self, start_frame: int | None = None, end_frame: int | None = None
    ) -> FrameSliceDepthExtractor:
        """A lazy view of frames ``[start_frame, end_frame)``; no frames are read.

        Bounds follow :meth:`get_video` (negative from the end) except that a bound past
        either end of the video is clamped with a warning that says by how much, and a start
        past the end raises. Slices of slices compose into a single view of the original video.

        Parameters
        ----------
        start_frame : int, optional
            First frame of the view (frame index; ``None``: the first frame).
        end_frame : int, optional
            Frame after the last frame of the view (``None``: the end of the video).

        Returns
        -------
        FrameSliceDepthExtractor

        Raises
        ------
        ValueError
            If the start lies after the end, or past the last frame.
        """
        num_frames = self.get_num_frames()
        start, end = resolve_frame_range(start_frame, end_frame, num_frames)
        check_slice_request(start_frame, end_frame, num_frames, stacklevel=3)
        return FrameSliceDepthExtractor(self, start, end)

    def iter_chunks(
        self,
        chunk_size: int,
        overlap: int = 0,
        start_frame: int | None = None,
        end_frame: int | None = None,
    ) -> Iterator[FrameChunk]:
        """Read the video sequentially in blocks of ``chunk_size`` new frames.

        Parameters
        ----------
        chunk_size : int
            New frames per chunk (the last chunk may be shorter); at least 1.
        overlap : int, default 0
            Frames of the previous chunk repeated at the front of each chunk (for temporal
            filters); ``0 <= overlap``.
        start_frame, end_frame : int, optional
            Range to iterate, as in :meth:`get_video`.

        Yields
        ------
        FrameChunk
        """
        chunk_size = as_frame_index(chunk_size, "chunk_size")
        overlap = as_frame_index(overlap, "overlap")
        if chunk_size is None or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of frames, got {chunk_size}")
        if overlap is None or overlap < 0:
            raise ValueError(f"overlap must be zero or a positive number of frames, got {overlap}")
        first, last = resolve_frame_range(start_frame, end_frame, self.get_num_frames())
        # The overlap frames are kept from the previous chunk rather than read again, so each
        # frame is read once and a sequential decoder only ever moves forwards.
        tail = None
        for start in range(first, last, chunk_size):
            end = min(start + chunk_size, last)
            read_start = max(first, start - overlap)
            new_frames = self.get_video(start, end)
            if tail is not None and read_start < start:
                frames = np.concatenate([tail[tail.shape[0] - (start - read_start) :], new_frames])
            else:
                frames = new_frames
            if overlap:
                # A copy, so the previous chunk's array can be freed while the next is read.
                tail = frames[-overlap:].copy()
            del new_frames
            yield FrameChunk(start, end, read_start, frames)
            del frames

    # ------------------------------------------------------------------ times
    def set_times(self, times: Sequence[float] | np.ndarray | None) -> None:
        """Set the time of each frame, in seconds; ``None`` removes times set earlier.

        Set times take precedence over native timestamps, which take precedence over
        ``frame / sampling_frequency``.

        Parameters
        ----------
        times : sequence of float or numpy.ndarray or None
            One time per frame, seconds, non-decreasing; ``None`` to remove.
        """
        if times is None:
            self._times = None
            return
        values = np.asarray(times, dtype=np.float64)
        num_frames = self.get_num_frames()
        if values.shape != (num_frames,):
            raise ValueError(
                f"times must have one value per frame ({num_frames}), got shape {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError("times must be finite numbers of seconds")
        if np.any(np.diff(values) < 0):
            raise ValueError("times must not decrease from one frame to the next")
        self._times = values.copy()

    def has_time_vector(self) -> bool:
        """Whether frame times come from set times or native timestamps (not from the rate)."""
        return self._times is not None or self.get_native_timestamps() is not None

    @property
    def timestamps_source(self) -> str:
        """Where :meth:`get_timestamps` takes the frame times from, for the results to record.

        One of :data:`TIMESTAMPS_SET` (``"set with set_times"``), the name of the timestamp
        file read (``"depth_ts.txt"``; lines it had to repair are warned about),
        :data:`TIMESTAMPS_FROM_CONTAINER` (``"container"``: the recording's own times of each
        frame), ``"given"`` (times passed to a :class:`NumpyDepthExtractor`) or
        :data:`TIMESTAMPS_MADE_UP` (``"made up from the frame rate"``: the recording has no
        usable times, so frame ``k`` is at ``k / sampling_frequency``).
        """
        if self._times is not None:
            return TIMESTAMPS_SET
        if self.get_native_timestamps() is None:
            return TIMESTAMPS_MADE_UP
        return self._native_timestamps_source()

    def _native_timestamps_source(self) -> str:
        """Where :meth:`get_native_timestamps` come from (formats with a timestamp file say)."""
        return TIMESTAMPS_FROM_CONTAINER

    def get_timestamps(
        self, start_frame: int | None = None, end_frame: int | None = None
    ) -> np.ndarray:
        """Time of each frame in ``[start_frame, end_frame)``, in seconds (float64).

        Set times first, then native timestamps, then ``frame / sampling_frequency``.

        Parameters
        ----------
        start_frame, end_frame : int, optional
            Frame range, as for :meth:`get_video`.

        Returns
        -------
        numpy.ndarray
            ``(end - start,)`` float64 seconds.
        """
        start, end = resolve_frame_range(start_frame, end_frame, self.get_num_frames())
        if self._times is not None:
            return self._times[start:end].copy()
        native = self.get_native_timestamps()
        if native is not None:
            return np.asarray(native[start:end], dtype=np.float64).copy()
        return np.arange(start, end, dtype=np.float64) / self.get_sampling_frequency()

    def frame_to_time(self, frames: int | Sequence[int] | np.ndarray) -> float | np.ndarray:
        """Time in seconds of frame index (or indices), negative indices from the end.

        Parameters
        ----------
        frames : int or sequence of int or numpy.ndarray
            Frame indices.

        Returns
        -------
        float or numpy.ndarray
            Seconds; a float for one index, an array for several.
        """
        num_frames = self.get_num_frames()
        indices = np.asarray(frames)
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"frames must be integer indices, got dtype {indices.dtype}")
        if indices.size and (indices.min() < -num_frames or indices.max() >= num_frames):
            raise IndexError(
                f"frame index out of range for a video of {num_frames} frames "
                f"(allowed: {-num_frames}..{num_frames - 1})"
            )
        times = self.get_timestamps()[indices]
        return float(times) if times.ndim == 0 else times

    def time_to_frame(self, times: float | Sequence[float] | np.ndarray) -> int | np.ndarray:
        """Index of the frame whose time is nearest to ``times`` (seconds); clamped to the video.

        Ties go to the earlier frame.

        Parameters
        ----------
        times : float or sequence of float or numpy.ndarray
            Times, seconds.

        Returns
        -------
        int or numpy.ndarray
            Frame indices; an int for one time, an array for several.
        """
        num_frames = self.get_num_frames()
        if num_frames == 0:
            raise IndexError("the video has no frames, so no time maps to a frame")
        values = np.asarray(times, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("times must be finite numbers of seconds")
        timestamps = self.get_timestamps()
        right = np.clip(np.searchsorted(timestamps, values, side="left"), 1, num_frames - 1)
        left = right - 1
        if num_frames == 1:
            nearest = np.zeros_like(right)
        else:
            take_right = (timestamps[right] - values) < (values - timestamps[left])
            nearest = np.where(take_right, right, left)
        return int(nearest) if nearest.ndim == 0 else nearest.astype(np.int64)


def _rebuild(
    cls: type[DepthVideoExtractor], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> DepthVideoExtractor:
    """A pickled extractor, constructed again from the arguments of the original."""
    return cls(*args, **kwargs)


def _checked_get_video(implementation):
    """Wrap a subclass's ``get_video`` with argument resolution and a shape check."""

    @functools.wraps(implementation)
    def get_video(self, start_frame=None, end_frame=None):
        start, end = resolve_frame_range(start_frame, end_frame, self.get_num_frames())
        video = implementation(self, start, end)
        rows, cols = self.get_image_size()
        if not isinstance(video, np.ndarray) or video.shape != (end - start, rows, cols):
            found = video.shape if isinstance(video, np.ndarray) else type(video).__name__
            raise OSError(
                f"{type(self).__name__} read frames {start}..{end} but got {found} instead of "
                f"{(end - start, rows, cols)}; the recording may be truncated or corrupt"
            )
        if video.dtype != DEPTH_DTYPE:
            video = video.astype(DEPTH_DTYPE)
        return video

    get_video.__wrapped_by_depthextractors__ = True
    return get_video


class FrameSliceDepthExtractor(DepthVideoExtractor):
    """A lazy view of frames ``[start, end)`` of another extractor.

    Made by :meth:`DepthVideoExtractor.frame_slice`; every method answers for the view (frame 0
    of the view is frame ``start`` of the parent, times are the parent's times of those frames).

    Parameters
    ----------
    parent : DepthVideoExtractor
        The video viewed.
    start_frame, end_frame : int
        The frames ``[start_frame, end_frame)`` of ``parent``, with
        ``0 <= start_frame <= end_frame <= parent.get_num_frames()``.
    """

    extractor_name = "FrameSliceDepthExtractor"

    def __init__(self, parent: DepthVideoExtractor, start_frame: int, end_frame: int) -> None:
        super().__init__()
        parent_frames = parent.get_num_frames()
        if not 0 <= start_frame <= end_frame <= parent_frames:
            raise ValueError(
                f"a frame slice needs 0 <= start_frame <= end_frame <= {parent_frames}; "
                f"got {start_frame}, {end_frame}"
            )
        # Compose with a parent slice (when it has no times of its own) so a slice of a slice
        # reads straight from the original video.
        if isinstance(parent, FrameSliceDepthExtractor) and parent._times is None:
            start_frame += parent.start_frame
            end_frame += parent.start_frame
            parent = parent.parent
        self.parent = parent
        self.start_frame = start_frame
        self.end_frame = end_frame

    def get_image_size(self) -> tuple[int, int]:
        return self.parent.get_image_size()

    def get_num_frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def reads_anywhere(self) -> bool:  # type: ignore[override]
        return self.parent.reads_anywhere

    def get_sampling_frequency(self) -> float:
        return self.parent.get_sampling_frequency()

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        return self.parent.get_video(self.start_frame + start_frame, self.start_frame + end_frame)

    def _read_frames(self, indices: np.ndarray) -> np.ndarray:
        return self.parent.get_frames(indices + self.start_frame)

    def get_native_timestamps(self) -> np.ndarray | None:
        if not self.parent.has_time_vector():
            return None
        return self.parent.get_timestamps(self.start_frame, self.end_frame)

    def get_timestamps(
        self, start_frame: int | None = None, end_frame: int | None = None
    ) -> np.ndarray:
        if self._times is not None:
            return super().get_timestamps(start_frame, end_frame)
        start, end = resolve_frame_range(start_frame, end_frame, self.get_num_frames())
        return self.parent.get_timestamps(self.start_frame + start, self.start_frame + end)

    def has_time_vector(self) -> bool:
        return self._times is not None or self.parent.has_time_vector()

    def _native_timestamps_source(self) -> str:
        return self.parent.timestamps_source

    def get_metadata(self) -> dict[str, Any]:
        return self.parent.get_metadata()

    @property
    def camera(self) -> CameraModel:
        return self._camera if self._camera is not None else self.parent.camera

    def iter_chunks(self, chunk_size, overlap=0, start_frame=None, end_frame=None):
        first, last = resolve_frame_range(start_frame, end_frame, self.get_num_frames())
        offset = self.start_frame
        # Delegating lets a sequential-decoding parent keep its position between chunks.
        for chunk in self.parent.iter_chunks(chunk_size, overlap, first + offset, last + offset):
            yield FrameChunk(
                chunk.start - offset, chunk.end - offset, chunk.read_start - offset, chunk.frames
            )

    def __repr__(self) -> str:
        return (
            f"FrameSliceDepthExtractor(frames {self.start_frame}..{self.end_frame} of "
            f"{self.parent!r})"
        )
