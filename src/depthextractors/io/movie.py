"""The preview movie ``results_00.mp4``: the extracted crop beside the arena in false colour.

Like moseq2-extract's ``results_00.mp4``, each movie frame shows the extracted crop (nose east)
and the arena's bounding box (the ROI box) as height above the floor in false colour (jet, from
``min_height`` to 60 mm or ``max_height``; black where nothing is in ``[min_height,
max_height]``, outside the arena and where the depth is invalid). A strip along the top gives
the frame's number in the recording and its time from the session's first frame. Below it, the
crop on the left at full resolution, then a grey line, then the arena at the camera's
resolution up to 200 pixels across (every second pixel of a Kinect v2 arena, every fourth of a 1
MP Azure Kinect one), so a tail, a cable or a reflection show; unlike an inset over the
arena's corner, the crop never hides the animal. The arena is exactly what the tracker saw: the
heights the extraction computes for every frame
(:class:`~depthextractors.extraction.heights.ArenaHeights`).

How it is kept cheap (its cost is measured by ``benchmarks/bench_movie.py``):

- the recording is never read again: :class:`~depthextractors.io.movie_writer.PreviewMovieWriter`
  asks the extraction for every
  n-th row and column of the heights it computes anyway (``arena_heights_step``), taken by the
  worker threads while each frame is still in the cache, so the movie gets 8-bit heights in
  millimetres with each chunk of crops;
- a height in millimetres is its own 8-bit colour index, so a block of frames is coloured by
  three lookup tables straight into the encoder's planar YUV 4:2:0 (one chroma sample per 2x2
  pixels); no RGB image is made and libav's colour conversion is never called;
- frames are encoded with H.264 (``libx264``, ``ultrafast`` at a constant quantiser, which
  skips the rate control's look at each frame; one thread) where PyAV's ffmpeg has it, else
  MPEG-4 part 2, on a movie thread, while the results writer stores the same chunk and the
  extraction works on the next one; OpenCV and the encoder release the GIL, so the movie uses
  time the extraction leaves idle. A bounded queue holds the extraction back if the movie is
  slower, so memory stays bounded.

:func:`~depthextractors.io.movie_writer.write_preview_movie` makes the same movie afterwards
from ``results_00.h5`` and the recording (used to complete a session whose movie is missing,
e.g. after a crash).

Either way the movie is written under a name of its own (``results_00.mp4.<token>.partial``)
and renamed when complete; a movie that fails is deleted.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .output_dir import partial_path

__all__ = ["MOVIE_NAME", "PreviewMovie", "preview_codec"]


MOVIE_NAME = "results_00.mp4"
# Encoders tried in order: H.264 plays everywhere (browsers included); MPEG-4 part 2 is in
# every ffmpeg build.
_CODECS = ("libx264", "h264", "libopenh264", "mpeg4")
# Frames coloured at a time (bounds the movie's buffers to a few MB).
_BLOCK = 64
_BORDER_Y = 160
# The colour index of pixels outside the arena, and their colour (BGR).
_OUTSIDE = 255
_OUTSIDE_GREY = 48
# The arena is shown at the camera's resolution up to this many pixels across (every second
# pixel up to twice as many, and so on): the encoder's time grows with the frame's area, and
# a full-resolution Kinect v2 arena (about 370 px) tripled the movie's cost over this size.
_ARENA_MAX_ACROSS = 200
# Rows of the strip with the frame number and time (even, for 4:2:0 chroma), and its text.
_HEADER_ROWS = 24
_TEXT_Y = 235


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


def _colour_tables(
    min_height: float, max_height: float, mm_per_index: float = 1.0
) -> tuple[np.ndarray, ...]:
    """Y, U, V lookup tables (256 entries) of the 8-bit height index.

    Index ``i`` < 255 stands for the height ``i * mm_per_index`` mm. Index 0 (no object: the
    extraction's 0) and heights outside ``[min_height, max_height]`` are black; the jet colour
    map runs from ``min_height`` to 60 mm (or ``max_height`` if lower). Index 255 marks the
    pixels outside the arena, dark grey, so the arena's outline shows around its black floor.
    """
    index = np.arange(256)
    height = index * float(mm_per_index)
    # Colours span a mouse's heights (up to 60 mm); taller parts (rearing) are shown red.
    span = max(min(max_height, 60.0) - min_height, 1e-9)
    level = np.clip((height - min_height) / span * 255.0, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(level.reshape(256, 1), cv2.COLORMAP_JET).reshape(256, 3)
    bgr[(index == 0) | (height < min_height) | (height > max_height)] = 0
    bgr[_OUTSIDE] = _OUTSIDE_GREY
    # Each colour as a 2x2 block, so the I420 conversion gives one chroma sample per colour.
    blocks = np.repeat(np.repeat(bgr.reshape(256, 1, 3), 2, axis=0), 2, axis=1)
    i420 = cv2.cvtColor(np.ascontiguousarray(blocks), cv2.COLOR_BGR2YUV_I420)
    y_table = i420[:512].reshape(256, 2, 2)[:, 0, 0].copy()
    chroma = i420[512:].reshape(-1)
    u_table = chroma[:256].copy()
    v_table = chroma[256:512].copy()
    return y_table, u_table, v_table


class PreviewMovie:
    """Encodes preview frames (the crop beside the ROI box in false colour) into an ``.mp4``.

    Parameters
    ----------
    path : path-like
        The movie to write (``results_00.mp4``); written as ``<path>.<token>.partial`` (a
        name of its own) until :meth:`close`.
    roi : numpy.ndarray
        ``(rows, cols)`` bool arena mask; the movie shows its bounding box.
    crop_size : (int, int)
        ``(rows, cols)`` of the crops, shown on the left.
    min_height, max_height : float
        Height range shown in colour, mm.
    fps : float
        Frame rate of the movie, frames per second.
    downsample : int, optional
        The arena is shown every ``downsample``-th row and column (1 for full resolution);
        by default the smallest step that keeps it within 200 pixels across (2 for a Kinect v2
        arena); :meth:`add` expects heights at that resolution.
    codec : str, optional
        Encoder name; :func:`preview_codec` by default.
    quality : int, default 20
        H.264 quantiser (0-51; lower is better and bigger); MPEG-4 gets a matching one.

    Attributes
    ----------
    arena_shape : (int, int)
        ``(rows, cols)`` of the arena heights :meth:`add` takes.
    frame_shape : (int, int)
        ``(rows, cols)`` of the movie's frames.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        roi: np.ndarray,
        crop_size: tuple[int, int],
        min_height: float,
        max_height: float,
        fps: float,
        downsample: int | None = None,
        codec: str | None = None,
        quality: int = 20,
    ) -> None:
        self.path = Path(path)
        self.partial_path = partial_path(self.path)
        roi = np.asarray(roi, dtype=bool)
        if not roi.any():
            raise ValueError("the ROI is empty; there is nothing to show in the preview movie")
        rows_any, cols_any = np.flatnonzero(roi.any(axis=1)), np.flatnonzero(roi.any(axis=0))
        if downsample is None:
            across = max(rows_any[-1] - rows_any[0], cols_any[-1] - cols_any[0]) + 1
            downsample = max(1, -(-across // _ARENA_MAX_ACROSS))
        if isinstance(downsample, bool) or int(downsample) != downsample or downsample < 1:
            raise ValueError(f"downsample must be a whole number of 1 or more, got {downsample}")
        step = int(downsample)
        self.step = step
        box = roi[rows_any[0] : rows_any[-1] + 1 : step, cols_any[0] : cols_any[-1] + 1 : step]
        # 255 outside the arena, 0 inside: the maximum with the heights (0 outside) marks them.
        self._outside = np.where(box, 0, _OUTSIDE).astype(np.uint8)
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.arena_shape: tuple[int, int] = self._outside.shape
        crop_rows, crop_cols = self.crop_size
        # The strip on top; below it the crop on the left (not enlarged: twice as large added
        # half to the movie's cost), a grey line, a black one, then the arena (from an even
        # column, so each chroma sample covers two arena pixels). Even height for 4:2:0
        # chroma; width a multiple of 16, the encoder's macroblock, so the black padding costs
        # nothing.
        self._border_col = crop_cols + (crop_cols % 2)
        self._arena_col = self._border_col + 2
        height = _HEADER_ROWS + max(self.arena_shape[0], crop_rows)
        width = self._arena_col + self.arena_shape[1]
        self.frame_shape = (height + height % 2, -(-width // 16) * 16)
        # Whole millimetres are their own index while they fit below the outside marker;
        # taller ranges are scaled onto 254 steps.
        self.min_height, self.max_height = float(min_height), float(max_height)
        limit = _OUTSIDE - 1
        self._mm_per_index = 1.0 if self.max_height <= limit else self.max_height / limit
        self._y, self._u, self._v = _colour_tables(
            self.min_height, self.max_height, self._mm_per_index
        )
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self.codec = codec or preview_codec()
        self.frames_written = 0
        height, width = self.frame_shape
        # Index and YUV buffers for a block of frames; the padding stays 0 (black).
        self._index = np.zeros((_BLOCK, height, width), dtype=np.uint8)
        # The Y, U and V planes of a block of frames, one array each.
        self._planes = (
            np.empty((_BLOCK, height, width), dtype=np.uint8),
            np.empty((_BLOCK, height // 2, width // 2), dtype=np.uint8),
            np.empty((_BLOCK, height // 2, width // 2), dtype=np.uint8),
        )
        self._half = np.empty((_BLOCK, height // 2, width // 2), dtype=np.uint8)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.partial_path), mode="w", format="mp4")
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if self.codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "qp": str(int(quality))}
        elif self.codec == "mpeg4":
            stream.codec_context.options = {"qscale": str(max(2, min(31, int(quality) // 4)))}
        # One encoder thread: the extraction already uses the other cores.
        stream.codec_context.thread_count = 1
        self._stream = stream

    def __repr__(self) -> str:
        return f"PreviewMovie({str(self.path)!r}, {self.frames_written} frames, {self.codec})"

    def _to_index(self, heights: np.ndarray, out: np.ndarray) -> None:
        """Heights (mm) into the 8-bit colour index, written into ``out``."""
        if heights.dtype == np.uint8 and self._mm_per_index == 1.0:
            np.copyto(out, heights)
            return
        # fmax/fmin (not clip) so that NaN becomes 0 too, in one pass each over float32.
        scaled = np.multiply(heights, 1.0 / self._mm_per_index, dtype=np.float32)
        np.fmax(scaled, 0.0, out=scaled)
        np.fmin(scaled, _OUTSIDE - 1, out=scaled)
        np.copyto(out, np.rint(scaled, out=scaled), casting="unsafe")

    def _colour(self, count: int) -> tuple[np.ndarray, ...]:
        """The first ``count`` index frames to Y, U and V planes (4:2:0), each ``(count, r, c)``."""
        width = self.frame_shape[1]
        index = self._index[:count]
        luma, u_planes, v_planes = (plane[:count] for plane in self._planes)
        cv2.LUT(index.reshape(-1, width), self._y, dst=luma.reshape(-1, width))
        luma[:, _HEADER_ROWS:, self._border_col] = _BORDER_Y
        half = self._half[:count]
        np.copyto(half, index[:, ::2, ::2])  # one chroma sample per 2x2 pixels
        for plane, table in ((u_planes, self._u), (v_planes, self._v)):
            cv2.LUT(half.reshape(-1, width // 2), table, dst=plane.reshape(-1, width // 2))
        return luma, u_planes, v_planes

    def _encode(self, planes: tuple[np.ndarray, ...]) -> None:
        height, width = self.frame_shape
        for k in range(planes[0].shape[0]):
            frame = av.VideoFrame(width, height, "yuv420p")
            for target, source in zip(frame.planes, planes, strict=True):
                data = source[k]
                if target.line_size == data.shape[1]:
                    target.update(data)
                else:  # libav pads this plane's rows
                    rows = np.frombuffer(target, dtype=np.uint8).reshape(-1, target.line_size)
                    rows[:, : data.shape[1]] = data
            frame.pts = self.frames_written
            self._container.mux(self._stream.encode(frame))
            self.frames_written += 1

    def _label(self, luma: np.ndarray, frame_numbers, times_s) -> None:
        """Write each frame's number and time into the strip along its top."""
        for k in range(luma.shape[0]):
            parts = []
            if frame_numbers is not None:
                parts.append(f"frame {int(frame_numbers[k])}")
            if times_s is not None and np.isfinite(times_s[k]):
                minutes, seconds = divmod(float(times_s[k]), 60.0)
                parts.append(f"{int(minutes):02d}:{seconds:05.2f}")
            if parts:
                cv2.putText(
                    luma[k, :_HEADER_ROWS], "   ".join(parts), (6, _HEADER_ROWS - 7),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, _TEXT_Y, 1, cv2.LINE_AA,
                )  # fmt: skip

    def add(
        self,
        arena_heights: np.ndarray,
        crops: np.ndarray | None,
        frame_numbers: np.ndarray | None = None,
        times_s: np.ndarray | None = None,
    ) -> None:
        """Encode frames given as arena heights and their crops.

        Parameters
        ----------
        arena_heights : numpy.ndarray
            ``(n, *arena_shape)`` heights above the floor in the ROI's bounding box, every
            ``downsample``-th row and column, mm (0 for nothing), as
            :attr:`ResultChunk.arena_heights <depthextractors.extraction.ResultChunk>` holds
            them.
        crops : numpy.ndarray or None
            ``(n, crop_rows, crop_cols)`` extracted crops (heights, mm) shown on the left, or
            ``None`` for none.
        frame_numbers : numpy.ndarray, optional
            ``(n,)`` each frame's number in the recording, written on it.
        times_s : numpy.ndarray, optional
            ``(n,)`` each frame's time from the session's first frame, seconds, written on it
            as minutes:seconds.

        Raises
        ------
        ValueError
            If the shapes do not match the movie's.
        """
        arena_heights = np.asarray(arena_heights)
        if arena_heights.ndim != 3 or arena_heights.shape[1:] != self.arena_shape:
            raise ValueError(
                f"expected arena heights of shape (n, {self.arena_shape[0]}, "
                f"{self.arena_shape[1]}) (the ROI box every {self.step}th pixel), got "
                f"{arena_heights.shape}"
            )
        count = arena_heights.shape[0]
        if crops is not None and (crops.shape[0] != count or crops.shape[1:] != self.crop_size):
            raise ValueError(
                f"expected {count} crops of {self.crop_size[0]}x{self.crop_size[1]} pixels, got "
                f"shape {crops.shape}"
            )
        rows, cols = self.arena_shape
        crop_rows, crop_cols = self.crop_size
        top, arena_col = _HEADER_ROWS, self._arena_col
        for first in range(0, count, _BLOCK):
            last = min(first + _BLOCK, count)
            index = self._index[: last - first]
            arena = index[:, top : top + rows, arena_col : arena_col + cols]
            self._to_index(arena_heights[first:last], arena)
            np.maximum(arena, self._outside, out=arena)
            shown = index[:, top : top + crop_rows, :crop_cols]
            if crops is None:
                shown[...] = 0  # no crop left over from earlier frames
            else:
                self._to_index(np.asarray(crops[first:last]), shown)
            planes = self._colour(last - first)
            self._label(
                planes[0],
                None if frame_numbers is None else frame_numbers[first:last],
                None if times_s is None else times_s[first:last],
            )
            self._encode(planes)

    def close(self) -> Path:
        """Flush the encoder, close the file and give it its final name.

        Returns
        -------
        pathlib.Path
            The finished movie (``path``).
        """
        try:
            self._container.mux(self._stream.encode(None))
            self._container.close()
            os.replace(self.partial_path, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Close and delete the unfinished movie."""
        with contextlib.suppress(Exception):  # the file is deleted anyway
            self._container.close()
        self.partial_path.unlink(missing_ok=True)
