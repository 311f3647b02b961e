"""The preview movie ``results_00.mp4``: the arena in false colour with the crop inset.

Like moseq2-extract's ``results_00.mp4``, each movie frame is the arena's bounding box (the ROI
box) of one depth frame shown as height above the floor in false colour (jet, from
``min_height`` to ``max_height``; black where nothing is in that range, outside the arena, and
where the depth is invalid), with the extracted 80x80 crop (nose east) in the top-left corner,
framed by a grey line.

How it stays cheap (measured by ``benchmarks/bench_movie.py``; the bar is at most 25% added to
the extraction time):

- the arena is shown at half resolution (every second row and column; the crop inset keeps its
  full resolution, so the animal is shown larger than in the arena view);
- the depth frames are never read twice: :class:`MovieTeeWriter` hands the extraction a view of
  the recording (:meth:`MovieTeeWriter.tap`) that copies the movie's pixels of each block of
  frames the extraction reads and passes them to the movie thread, which reduces them to the
  movie's 8-bit height index (one saturating ``uint16`` subtraction and one scaling per
  frame);
- the index is turned into the encoder's planar YUV 4:2:0 by three lookup tables, so no RGB
  image is made and libav's colour conversion is never called;
- frames are encoded with H.264 (``libx264``, ``ultrafast``, one thread) where PyAV's ffmpeg has
  it, else MPEG-4 part 2, on that movie thread, while the results writer stores the same chunk
  and the extraction works on the next one; OpenCV and the encoder release the GIL, so the
  movie can use a core the extraction leaves idle. A bounded queue holds the extraction back
  if the movie is slower, so memory stays bounded.

:func:`write_preview_movie` makes the same movie afterwards from ``results_00.h5`` and the
recording (used to complete a session whose movie is missing, e.g. after a crash).

Either way the movie is written as ``results_00.mp4.partial`` and renamed when complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..extraction.outputs import ExtractionResults, ExtractionSetup, ResultChunk, ResultsWriter
from ..extractors.base import DepthVideoExtractor, FrameSliceDepthExtractor, resolve_frame_range

__all__ = [
    "MOVIE_NAME",
    "MovieTeeWriter",
    "PreviewMovie",
    "preview_codec",
    "write_preview_movie",
]

logger = logging.getLogger(__name__)

MOVIE_NAME = "results_00.mp4"
# Encoders tried in order: H.264 plays everywhere (browsers included); MPEG-4 part 2 is in
# every ffmpeg build.
_CODECS = ("libx264", "h264", "libopenh264", "mpeg4")
# Frames read from the recording at a time by the movie (bounds its memory to a few MB).
_READ_BLOCK = 64
# The 8-bit index of "above max_height or invalid": shown black.
_OVER = 255
_BORDER_Y = 160


def preview_codec() -> str:
    """Name of the encoder the preview movie uses with this installation of PyAV."""
    for name in _CODECS:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # any failure means "not in this build"
            continue
        return name
    raise RuntimeError(
        "PyAV's ffmpeg has neither an H.264 nor an MPEG-4 encoder; write the results with "
        "write_movie=False (--no-movie)"
    )


def _colour_tables(min_height: float, max_height: float) -> tuple[np.ndarray, ...]:
    """Y, U, V lookup tables (256 entries) of the 8-bit height index.

    Index ``i`` < 255 stands for the height ``i * max_height / 254`` mm; heights below
    ``min_height`` and index 255 (above ``max_height``, or invalid) are black; the jet colour
    map runs from ``min_height`` to 60 mm (or ``max_height`` if lower).
    """
    index = np.arange(256)
    height = index * (max_height / 254.0)
    # Colours span a mouse's heights (up to 60 mm); taller parts (rearing) are shown red.
    span = max(min(max_height, 60.0) - min_height, 1e-9)
    level = np.clip((height - min_height) / span * 255.0, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(level.reshape(256, 1), cv2.COLORMAP_JET).reshape(256, 3)
    black = (height < min_height) | (index == _OVER)
    bgr[black] = 0
    # Each colour as a 2x2 block, so the I420 conversion gives one chroma sample per colour.
    blocks = np.repeat(np.repeat(bgr.reshape(256, 1, 3), 2, axis=0), 2, axis=1)
    i420 = cv2.cvtColor(np.ascontiguousarray(blocks), cv2.COLOR_BGR2YUV_I420)
    y_table = i420[:512].reshape(256, 2, 2)[:, 0, 0].copy()
    chroma = i420[512:].reshape(-1)
    u_table = chroma[:256].copy()
    v_table = chroma[256:512].copy()
    return y_table, u_table, v_table


class PreviewMovie:
    """Encodes preview frames (ROI box in false colour, crop inset) into an ``.mp4``.

    Parameters
    ----------
    path : path-like
        The movie to write (``results_00.mp4``); written as ``<path>.partial`` until
        :meth:`close`.
    background : numpy.ndarray
        ``(rows, cols)`` background depth, mm.
    roi : numpy.ndarray
        ``(rows, cols)`` bool arena mask; the movie shows its bounding box.
    crop_size : (int, int)
        ``(rows, cols)`` of the crops placed in the top-left corner.
    min_height, max_height : float
        Height range shown in colour, mm.
    fps : float
        Frame rate of the movie, frames per second.
    downsample : int, default 2
        The arena is shown every ``downsample``-th row and column (1 for full resolution).
    codec : str, optional
        Encoder name; :func:`preview_codec` by default.
    quality : int, default 23
        H.264 constant rate factor (lower is better and bigger); MPEG-4 gets a matching
        quantiser.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        background: np.ndarray,
        roi: np.ndarray,
        crop_size: tuple[int, int],
        min_height: float,
        max_height: float,
        fps: float,
        downsample: int = 2,
        codec: str | None = None,
        quality: int = 23,
    ) -> None:
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + ".partial")
        roi = np.asarray(roi, dtype=bool)
        if not roi.any():
            raise ValueError("the ROI is empty; there is nothing to show in the preview movie")
        if int(downsample) < 1:
            raise ValueError(f"downsample must be 1 or more, got {downsample}")
        step = int(downsample)
        self.step = step
        rows_any, cols_any = np.flatnonzero(roi.any(axis=1)), np.flatnonzero(roi.any(axis=0))
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        # Source rows/cols of the arena box, every step-th one.
        self._rows = slice(int(rows_any[0]), int(rows_any[-1]) + 1, step)
        self._cols = slice(int(cols_any[0]), int(cols_any[-1]) + 1, step)
        box_roi = roi[self._rows, self._cols]
        box_bg = np.asarray(background, dtype=np.float64)[self._rows, self._cols]
        self._box_shape = box_roi.shape
        # Outside the arena the background is 0, so the saturating subtraction gives 0: black.
        self._background = np.where(
            box_roi, np.clip(np.rint(np.nan_to_num(box_bg)), 0, 65535), 0
        ).astype(np.uint16)
        # The frame holds the arena box and the inset, with even sides (4:2:0 chroma).
        height = max(self._box_shape[0], self.crop_size[0] + 1)
        width = max(self._box_shape[1], self.crop_size[1] + 1)
        # Even height (4:2:0 chroma); width a multiple of 32, so libav's planes have no row
        # padding and the colours can be written straight into the encoder's frame.
        self.frame_shape = (height + height % 2, -(-width // 32) * 32)
        self._scale = 254.0 / float(max_height)
        self._y, self._u, self._v = _colour_tables(float(min_height), float(max_height))
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self.codec = codec or preview_codec()
        self.frames_written = 0
        height, width = self.frame_shape
        self._index = np.zeros((height, width), dtype=np.uint8)
        self._buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.partial_path), mode="w", format="mp4")
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if self.codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "crf": str(int(quality))}
        elif self.codec == "mpeg4":
            stream.codec_context.options = {"qscale": str(max(2, min(31, int(quality) // 4)))}
        # One encoder thread: the extraction already uses the other cores.
        stream.codec_context.thread_count = 1
        self._stream = stream

    def __repr__(self) -> str:
        return f"PreviewMovie({str(self.path)!r}, {self.frames_written} frames, {self.codec})"

    def select(self, depth: np.ndarray) -> np.ndarray:
        """The movie's pixels of depth frames: the arena box, every ``downsample``-th pixel.

        Parameters
        ----------
        depth : numpy.ndarray
            ``(n, rows, cols)`` depth frames, uint16 mm.

        Returns
        -------
        numpy.ndarray
            ``(n, box_rows, box_cols)`` uint16, contiguous (a copy: the frames can go).
        """
        return np.ascontiguousarray(depth[:, self._rows, self._cols])

    def height_index(self, box: np.ndarray) -> np.ndarray:
        """Selected depth (:meth:`select`) to the movie's 8-bit height index.

        Parameters
        ----------
        box : numpy.ndarray
            ``(n, box_rows, box_cols)`` uint16 depth, mm, as :meth:`select` returns it.

        Returns
        -------
        numpy.ndarray
            ``(n, box_rows, box_cols)`` uint8: ``height * 254 / max_height``, 255 above
            ``max_height`` or where the depth is invalid (0, which leaves the background depth).
        """
        out = np.empty(box.shape, dtype=np.uint8)
        for k in range(box.shape[0]):
            heights = cv2.subtract(self._background, box[k])
            cv2.convertScaleAbs(heights, dst=out[k], alpha=self._scale)
        return out

    def prepare(self, depth: np.ndarray) -> np.ndarray:
        """Depth frames ``(n, rows, cols)`` uint16 mm to the height index (both steps above).

        Parameters
        ----------
        depth : numpy.ndarray
            ``(n, rows, cols)`` depth frames, uint16 mm.

        Returns
        -------
        numpy.ndarray
            ``(n, box_rows, box_cols)`` uint8 height index (see :meth:`height_index`).
        """
        return self.height_index(self.select(depth))

    def _compose(self, index: np.ndarray, crop: np.ndarray | None) -> np.ndarray:
        """The frame's height index: the arena box with the crop inset in the top-left."""
        frame_index = self._index
        rows, cols = index.shape
        frame_index[:rows, :cols] = index
        if crop is not None:
            crop_rows, crop_cols = self.crop_size
            cv2.convertScaleAbs(
                np.asarray(crop, dtype=np.float32), dst=frame_index[:crop_rows, :crop_cols],
                alpha=self._scale,
            )  # fmt: skip
        return frame_index

    def _colour(self, frame_index: np.ndarray, luma, u_plane, v_plane, inset: bool) -> None:
        height, width = self.frame_shape
        cv2.LUT(frame_index, self._y, dst=luma)
        half = cv2.resize(frame_index, (width // 2, height // 2), interpolation=cv2.INTER_NEAREST)
        cv2.LUT(half, self._u, dst=u_plane)
        cv2.LUT(half, self._v, dst=v_plane)
        if inset:
            crop_rows, crop_cols = self.crop_size
            luma[crop_rows, : crop_cols + 1] = _BORDER_Y
            luma[: crop_rows + 1, crop_cols] = _BORDER_Y

    def render(self, index: np.ndarray, crop: np.ndarray | None) -> np.ndarray:
        """One movie frame as planar YUV 4:2:0, ``(height * 3 / 2, width)`` uint8.

        Parameters
        ----------
        index : numpy.ndarray
            ``(box_rows, box_cols)`` height index from :meth:`prepare`.
        crop : numpy.ndarray or None
            ``(crop_rows, crop_cols)`` extracted crop (heights, mm), or ``None``.

        Returns
        -------
        numpy.ndarray
            ``(height * 3 / 2, width)`` uint8: the Y plane, then the U and V planes. The
            buffer is reused: the next call overwrites it.
        """
        height, width = self.frame_shape
        out = self._buffer
        chroma = out[height:].reshape(2, height // 2, width // 2)
        self._colour(
            self._compose(index, crop), out[:height], chroma[0], chroma[1], crop is not None
        )
        return out

    def _video_frame(self, index: np.ndarray, crop: np.ndarray | None) -> av.VideoFrame:
        height, width = self.frame_shape
        frame = av.VideoFrame(width, height, "yuv420p")
        planes = frame.planes
        if planes[0].line_size != width or planes[1].line_size != width // 2:
            # Rows padded by this libav build: go through a contiguous buffer instead.
            return av.VideoFrame.from_ndarray(self.render(index, crop), format="yuv420p")
        luma = np.frombuffer(planes[0], dtype=np.uint8).reshape(height, width)
        u_plane = np.frombuffer(planes[1], dtype=np.uint8).reshape(height // 2, width // 2)
        v_plane = np.frombuffer(planes[2], dtype=np.uint8).reshape(height // 2, width // 2)
        self._colour(self._compose(index, crop), luma, u_plane, v_plane, crop is not None)
        return frame

    def add_prepared(self, index: np.ndarray, crops: np.ndarray | None) -> None:
        """Encode frames given as height indices (:meth:`prepare`) and their crops.

        Parameters
        ----------
        index : numpy.ndarray
            ``(n, box_rows, box_cols)`` uint8 height indices.
        crops : numpy.ndarray or None
            ``(n, crop_rows, crop_cols)`` extracted crops (heights, mm) shown as an inset, or
            ``None`` for none.
        """
        for k in range(index.shape[0]):
            frame = self._video_frame(index[k], None if crops is None else crops[k])
            frame.pts = self.frames_written
            self._container.mux(self._stream.encode(frame))
            self.frames_written += 1

    def add(self, depth: np.ndarray, crops: np.ndarray | None) -> None:
        """Encode depth frames ``(n, rows, cols)`` uint16 mm and their crops.

        Parameters
        ----------
        depth : numpy.ndarray
            ``(n, rows, cols)`` depth frames, uint16 mm.
        crops : numpy.ndarray or None
            ``(n, crop_rows, crop_cols)`` extracted crops (heights, mm), or ``None``.
        """
        self.add_prepared(self.prepare(depth), crops)

    def close(self) -> Path:
        """Flush the encoder, close the file and give it its final name.

        Returns
        -------
        pathlib.Path
            The finished movie (``path``).
        """
        self._container.mux(self._stream.encode(None))
        self._container.close()
        os.replace(self.partial_path, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the unfinished movie."""
        with contextlib.suppress(Exception):  # the file is deleted anyway
            self._container.close()
        self.partial_path.unlink(missing_ok=True)


def _fps(timestamps_s: np.ndarray, fallback: float = 30.0) -> float:
    times = np.asarray(timestamps_s, dtype=np.float64)
    if times.size < 2:
        return fallback
    step = float(np.median(np.diff(times)))
    return 1.0 / step if step > 0 and np.isfinite(step) else fallback


def _heights(parameters: dict[str, Any]) -> tuple[float, float]:
    return float(parameters.get("min_height", 10.0)), float(parameters.get("max_height", 100.0))


class _TappedExtractor(FrameSliceDepthExtractor):
    """The whole recording, with every frame range read also handed to a callback."""

    def __init__(self, parent: DepthVideoExtractor, tap: Callable[[int, np.ndarray], None]):
        super().__init__(parent, 0, parent.get_num_frames())
        self._tap = tap

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        start, end = resolve_frame_range(start_frame, end_frame, self.get_num_frames())
        frames = super().get_video(start, end)
        self._tap(start, frames)
        return frames

    def iter_chunks(self, chunk_size, overlap=0, start_frame=None, end_frame=None):
        # The parent's iterator is used (a sequential decoder keeps its position).
        for chunk in super().iter_chunks(chunk_size, overlap, start_frame, end_frame):
            self._tap(chunk.read_start, chunk.frames)
            yield chunk


class MovieTeeWriter:
    """A results writer that also makes the preview movie, without reading any frame twice.

    Use it in two places: give the extraction ``tee.tap(extractor)`` instead of the extractor,
    and ``tee`` as its writer. Everything the movie needs flows through one queue to one movie
    thread, in order: the movie's pixels of each block of depth frames the extraction reads
    (:meth:`PreviewMovie.select`, the only movie work in the extraction's reading thread), then
    each chunk of crops as it is written. The movie thread turns the pixels into height
    indices (:meth:`PreviewMovie.height_index`), keeps them until the chunk holding those
    frames arrives, and encodes the chunk. The queue holds at most ``max_queued`` items, so a
    slow movie holds the extraction back instead of filling memory. A failure of the movie is
    logged as a warning and never fails the extraction.

    Parameters
    ----------
    inner : ResultsWriter
        The writer of ``results_00.h5``.
    path : path-like
        The movie to write.
    downsample : int, default 2
        As in :class:`PreviewMovie`.
    max_queued : int, default 2
        Blocks or chunks waiting for the movie thread at most (64 frames of a Kinect arena
        box at half resolution are 4 MB).
    """

    def __init__(
        self,
        inner: ResultsWriter,
        path: str | os.PathLike,
        downsample: int = 2,
        max_queued: int = 2,
    ) -> None:
        self.inner = inner
        self.path = Path(path)
        self.downsample = int(downsample)
        self._movie: PreviewMovie | None = None
        self._first = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(max_queued)))
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.movie_path: Path | None = None

    def tap(self, extractor: DepthVideoExtractor) -> DepthVideoExtractor:
        """A view of ``extractor`` (same frames, times, camera) that feeds the movie.

        Parameters
        ----------
        extractor : DepthVideoExtractor
            The recording the extraction reads.

        Returns
        -------
        DepthVideoExtractor
            A view of the whole recording; frames read through it before :meth:`begin`
            (background, first frame) are not sent to the movie.
        """
        return _TappedExtractor(extractor, self._on_read)

    def _on_read(self, start: int, frames: np.ndarray) -> None:
        movie = self._movie
        if self._thread is None or self.error is not None or movie is None:
            return  # frames read before the extraction begins (background, first frame)
        # Only the movie's pixels are kept (a sixth of a Kinect frame), so the queue holds a
        # few MB, never raw blocks: memory stays within the extraction's budget.
        self._queue.put(("frames", start, movie.select(frames)))

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
            logger.warning(
                "the preview movie could not be written: %s: %s", type(error).__name__, error
            )

    def _work(self) -> None:
        movie = self._movie
        pending: dict[int, np.ndarray] = {}
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # keep draining, so the extraction never waits on a dead movie
            try:
                if item[0] == "frames":
                    _, start, box = item
                    index = movie.height_index(box)
                    for k in range(index.shape[0]):
                        pending[start + k] = index[k]
                else:
                    _, start, crops = item
                    first = self._first + start
                    index = np.stack([pending.pop(first + k) for k in range(crops.shape[0])])
                    # Context frames of earlier windows are never written again.
                    for key in [key for key in pending if key < first + crops.shape[0]]:
                        del pending[key]
                    movie.add_prepared(index, crops)
            except Exception as error:  # the movie is optional
                self._fail(error)
                pending.clear()

    def begin(self, setup: ExtractionSetup) -> None:
        """Begin the inner writer, open the movie and start the movie thread.

        A movie that cannot be opened is logged (see :attr:`error`); the results go on.

        Parameters
        ----------
        setup : ExtractionSetup
            Passed to the inner writer; its background, ROI, crop size, height range (mm)
            and timestamps (seconds, for the frame rate) shape the movie.
        """
        self.inner.begin(setup)
        self._first = setup.first_frame_idx
        self.path.unlink(missing_ok=True)
        try:
            self._movie = PreviewMovie(
                self.path, setup.background, setup.roi, setup.crop_size,
                *_heights(setup.parameters), _fps(setup.timestamps_s),
                downsample=self.downsample,
            )  # fmt: skip
        except Exception as error:  # the movie is optional
            self._fail(error)
            return
        self._thread = threading.Thread(
            target=self._work, name="depthextractors-movie", daemon=True
        )
        self._thread.start()

    def write(self, chunk: ResultChunk) -> None:
        """Queue the chunk's crops for the movie and write the chunk with the inner writer.

        Parameters
        ----------
        chunk : ResultChunk
            One block of finished frames, in order.
        """
        if self._thread is not None and self.error is None:
            self._queue.put(("crops", chunk.start, chunk.frames))
        # The HDF5 write (compression) runs while the movie thread encodes.
        self.inner.write(chunk)

    def _stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def finish(self) -> ExtractionResults:
        """Wait for the movie thread, close the movie, then finish the inner writer.

        Returns
        -------
        ExtractionResults
            What the inner writer returns; :attr:`movie_path` is set if the movie was written.
        """
        # The movie is closed before the results are declared complete, so a complete
        # results_00.yaml means the movie is there too (unless it failed, which is logged).
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
        return self.inner.finish()

    def abort(self, error: BaseException) -> None:
        """Stop the movie thread, delete the unfinished movie and abort the inner writer.

        Parameters
        ----------
        error : BaseException
            What made the extraction fail; passed to the inner writer.
        """
        try:
            self.error = self.error or error  # the thread drops what is still queued
            self._stop()
            if self._movie is not None:
                self._movie.abort()
                self._movie = None
        finally:
            self.inner.abort(error)


def write_preview_movie(
    results: ExtractionResults,
    source: DepthVideoExtractor,
    path: str | os.PathLike | None = None,
    downsample: int = 2,
    block: int = _READ_BLOCK,
) -> Path:
    """Make the preview movie after the extraction, from its results and the recording.

    Parameters
    ----------
    results : ExtractionResults
        The extraction (``read_results(output_dir)``); crops are read ``block`` at a time.
    source : DepthVideoExtractor
        The recording it was extracted from (frames ``first_frame_idx`` onwards are read).
    path : path-like, optional
        The movie; ``results_00.mp4`` beside ``results_00.h5`` by default.
    downsample : int, default 2
        As in :class:`PreviewMovie`.
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
    parameters = results.parameters
    crop_size = tuple(int(v) for v in results.frames.shape[1:3])
    movie = PreviewMovie(
        path, results.background, results.roi, crop_size, *_heights(parameters),
        _fps(results.timestamps), downsample=downsample,
    )  # fmt: skip
    first = int(results.metadata.get("first_frame_idx", 0))
    try:
        for start in range(0, len(results), block):
            stop = min(start + block, len(results))
            crops = np.asarray(results.frames[start:stop])
            movie.add(source.get_video(first + start, first + stop), crops)
    except BaseException:
        movie.abort()
        raise
    return movie.close()
