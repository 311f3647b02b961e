"""Making the preview movie: during the extraction (:class:`PreviewMovieWriter`) or afterwards
from the results and the recording (:func:`write_preview_movie`).

The movie's frames and encoder are :class:`~depthextractors.io.movie.PreviewMovie`'s.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..extraction.heights import ArenaHeights
from ..extraction.results import ExtractionSetup, ResultChunk, ResultsWriter
from ..extractors.base import DepthVideoExtractor
from .movie import _BLOCK, MOVIE_NAME, PreviewMovie
from .results import ExtractionResults

__all__ = ["QUEUED_FRAMES", "PreviewMovieWriter", "write_preview_movie"]

logger = logging.getLogger(__name__)

#: Frames per block handed to the movie thread (a Kinect v2 arena's 8-bit heights every
#: second pixel: about 3.4 MB).
QUEUED_FRAMES = 100


def _fps(timestamps_s: np.ndarray, fallback: float = 30.0) -> float:
    times = np.asarray(timestamps_s, dtype=np.float64)
    if times.size < 2:
        return fallback
    step = float(np.median(np.diff(times)))
    return 1.0 / step if step > 0 and np.isfinite(step) else fallback


def _from_start(timestamps_s: np.ndarray) -> np.ndarray:
    """Frame times in seconds from the first frame (the times written on the movie)."""
    times = np.asarray(timestamps_s, dtype=np.float64)
    return times - times[0] if times.size else times


def _heights(parameters: dict[str, Any]) -> tuple[float, float]:
    return float(parameters.get("min_height", 10.0)), float(parameters.get("max_height", 100.0))


class PreviewMovieWriter(ResultsWriter):
    """Writes the preview movie during the extraction, without reading any frame twice.

    Give it to the extraction beside the results writer
    (``extraction.run([H5ResultsWriter(out), PreviewMovieWriter(out / "results_00.mp4")])``).
    It declares that it wants the arena heights of every chunk (:attr:`arena_heights_step`) and
    hands each chunk's arena heights and crops to one movie thread, in blocks of at most
    :data:`QUEUED_FRAMES` frames. A chunk's arrays may be read only while :meth:`write` runs
    (the extraction reuses their memory for later chunks), so each block is copied into
    one of ``max_queued + 1`` block buffers the writer keeps and the movie thread hands back
    when it has encoded them: memory stays bounded whatever the chunk size, a slow movie holds
    the extraction back, and no memory is newly allocated per chunk (the first write to new
    memory is what costs, on some virtual machines about 80 MB/s). A failure of the movie is
    logged as a warning and never fails the extraction.

    Parameters
    ----------
    path : path-like
        The movie to write.
    downsample : int, optional
        As in :class:`PreviewMovie` (by default the arena at the camera's resolution, up to
        200 pixels across).
    max_queued : int, default 1
        Blocks waiting for the movie thread at most (beside the one it encodes).
    """

    def __init__(
        self, path: str | os.PathLike, downsample: int | None = None, max_queued: int = 1
    ) -> None:
        self.path = Path(path)
        self.downsample = downsample
        self._movie: PreviewMovie | None = None
        self._slots = max(1, int(max_queued)) + 1
        # Block buffers ready to be filled, and filled ones waiting for the movie thread.
        self._free: queue.Queue = queue.Queue()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.movie_path: Path | None = None
        self._first_frame = 0
        self._times_s = np.zeros(0)

    @property
    def arena_heights_step(self) -> int | None:  # type: ignore[override]
        """Every how many rows and columns the movie needs the arena heights.

        Known once :meth:`begin` has opened the movie (the extraction reads it then); None
        when there is no movie to feed.
        """
        if self._movie is None or self.error is not None:
            return None
        return self._movie.step

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
            logger.warning(
                "the preview movie could not be written: %s: %s", type(error).__name__, error
            )

    def _work(self) -> None:
        movie = self._movie
        while True:
            item = self._queue.get()
            if item is None:
                return
            (arena, crops), count, numbers, times = item
            try:
                if self.error is None:  # else drain, so the extraction never waits on it
                    movie.add(arena[:count], crops[:count], numbers, times)
            except Exception as error:  # the movie is optional
                self._fail(error)
            finally:
                self._free.put((arena, crops))

    def begin(self, setup: ExtractionSetup) -> None:
        """Open the movie and start the movie thread.

        A movie that cannot be opened is logged (see :attr:`error`); the results go on.

        Parameters
        ----------
        setup : ExtractionSetup
            Its ROI, crop size, height range (mm) and timestamps (seconds, for the frame rate)
            shape the movie.
        """
        self.path.unlink(missing_ok=True)
        self._first_frame = int(setup.first_frame_idx)
        self._times_s = _from_start(setup.timestamps_s)
        try:
            self._movie = PreviewMovie(
                self.path, setup.roi, setup.crop_size, *_heights(setup.parameters),
                _fps(setup.timestamps_s), downsample=self.downsample,
            )  # fmt: skip
        except Exception as error:  # the movie is optional
            self._fail(error)
            return
        self._free = queue.Queue()
        self._queue = queue.Queue()
        dtype = np.dtype(setup.frame_dtype)
        for _ in range(self._slots):
            self._free.put(
                (
                    np.empty((QUEUED_FRAMES, *self._movie.arena_shape), dtype=dtype),
                    np.empty((QUEUED_FRAMES, *self._movie.crop_size), dtype=dtype),
                )
            )
        self._thread = threading.Thread(
            target=self._work, name="depthextractors-movie", daemon=True
        )
        self._thread.start()

    def write(self, chunk: ResultChunk) -> None:
        """Copy the chunk's arena heights and crops for the movie thread.

        Waits while every block buffer is full (the movie is behind).

        Parameters
        ----------
        chunk : ResultChunk
            One block of finished frames, in order, with its ``arena_heights``.
        """
        if self._thread is None or self.error is not None:
            return
        if chunk.arena_heights is None:
            self._fail(
                ValueError(
                    "the extraction passed no arena heights with its results (a "
                    "SessionExtraction provides them to writers with arena_heights_step)"
                )
            )
            return
        numbers = self._first_frame + chunk.start + np.arange(len(chunk))
        times = self._times_s[chunk.start : chunk.start + len(chunk)]
        for first in range(0, len(chunk), QUEUED_FRAMES):
            block = slice(first, first + QUEUED_FRAMES)
            arena, crops = buffers = self._free.get()
            count = len(numbers[block])
            np.copyto(arena[:count], chunk.arena_heights[block])
            np.copyto(crops[:count], chunk.frames[block])
            self._queue.put((buffers, count, numbers[block], times[block]))

    def _stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def finish(self) -> Path | None:
        """Wait for the movie thread and close the movie.

        Returns
        -------
        pathlib.Path or None
            The movie, or ``None`` if it failed (logged).
        """
        self._stop()
        if self._movie is not None:
            if self.error is None:
                try:
                    self.movie_path = self._movie.close()
                except Exception as error:
                    self._fail(error)
                    self._movie.abort()
            else:
                self._movie.abort()
            self._movie = None
        return self.movie_path

    def abort(self, error: BaseException) -> None:
        """Stop the movie thread and delete the unfinished movie.

        Parameters
        ----------
        error : BaseException
            What made the extraction fail.
        """
        self.error = self.error or error  # the thread drops what is still queued
        self._stop()
        if self._movie is not None:
            self._movie.abort()
            self._movie = None


def write_preview_movie(
    results: ExtractionResults,
    source: DepthVideoExtractor,
    path: str | os.PathLike | None = None,
    downsample: int | None = None,
    block: int = _BLOCK,
) -> Path:
    """Make the preview movie after the extraction, from its results and the recording.

    The arena heights are computed again from the recording and the saved background, exactly
    as the extraction computed them, so the movie is the one the extraction would have made.

    Parameters
    ----------
    results : ExtractionResults
        The extraction (``read_results(output_dir)``); crops are read ``block`` at a time.
    source : DepthVideoExtractor
        The recording it was extracted from (frames ``first_frame_idx`` onwards are read).
    path : path-like, optional
        The movie; ``results_00.mp4`` beside ``results_00.h5`` by default.
    downsample : int, optional
        As in :class:`PreviewMovie` (by default the arena at the camera's resolution, up to
        200 pixels across).
    block : int, default 64
        Frames read at a time.

    Returns
    -------
    pathlib.Path
    """
    if path is None:
        if results.path is None:
            raise ValueError("in-memory results: pass the movie path")
        path = Path(results.path).with_name(MOVIE_NAME)
    if results.frames is None:
        raise ValueError(
            "the results have no frames (an NWB file of scalars only); the preview movie "
            "shows the crops, so it needs them"
        )
    parameters = results.parameters
    crop_size = tuple(int(v) for v in results.frames.shape[1:3])
    min_height, max_height = _heights(parameters)
    heights = ArenaHeights(
        results.background, results.roi, min_height, max_height, results.frames.dtype
    )
    movie = PreviewMovie(
        path, results.roi, crop_size, min_height, max_height, _fps(results.timestamps),
        downsample=downsample,
    )  # fmt: skip
    first = int(results.metadata.get("first_frame_idx", 0))
    times = _from_start(results.timestamps)
    step = movie.step
    try:
        for start in range(0, len(results), block):
            stop = min(start + block, len(results))
            crops = np.asarray(results.frames[start:stop])
            arena = heights(source.get_video(first + start, first + stop))
            numbers = first + np.arange(start, stop)
            movie.add(arena[:, ::step, ::step], crops, numbers, times[start:stop])
    except BaseException:
        movie.abort()
        raise
    return movie.close()
