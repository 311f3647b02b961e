"""The conformance check every depth extractor runs in its tests.

:func:`check_depth_extractor` runs the named checks below in order; they share one random
generator, so the ranges and indices drawn for a seed do not depend on how the checks are split.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass

import numpy as np

from ..extractors.base import DepthVideoExtractor, FrameSliceDepthExtractor

__all__ = ["check_depth_extractor"]


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _expect_raises(exception: type[BaseException], call, description: str) -> None:
    try:
        call()
    except exception:
        return
    except Exception as error:
        raise AssertionError(
            f"{description} raised {type(error).__name__} instead of {exception.__name__}: {error}"
        ) from error
    raise AssertionError(f"{description} did not raise {exception.__name__}")


@dataclass
class _Checked:
    """The extractor under check and what the checks learnt of it so far."""

    extractor: DepthVideoExtractor
    name: str
    rng: np.random.Generator
    rows: int
    cols: int
    num_frames: int
    full: bool = False
    reference: np.ndarray | None = None

    def frames_of(self, start: int, end: int) -> np.ndarray:
        """Frames ``[start, end)``: from the full read when there is one."""
        if self.reference is not None:
            return self.reference[start:end]
        return self.extractor.get_video(start, end)


def check_depth_extractor(
    extractor: DepthVideoExtractor,
    expected_video: np.ndarray | None = None,
    *,
    max_full_read_frames: int = 2000,
    check_pickle: bool = True,
    seed: int = 0,
) -> None:
    """Check that an extractor honours the :class:`DepthVideoExtractor` contract.

    Call it from the tests of a new format. It reads the whole video when it has at most
    ``max_full_read_frames`` frames (otherwise a sample of ranges) and checks shapes and dtype,
    ``get_video`` ranges, ``get_frames`` against ``get_video`` (any order, repeats, negative
    indices, masks), slices and slices of slices, chunk iteration with overlap, times and their
    precedence, the camera, metadata, errors on bad arguments and, optionally, pickling.

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The extractor to check (not modified: times set during the check are removed).
    expected_video : numpy.ndarray, optional
        The frames the extractor should return, when known.
    max_full_read_frames : int, default 2000
        Videos longer than this are checked on sampled ranges.
    check_pickle : bool, default True
        Also check that a pickled and unpickled extractor reads the same frames (batch runs
        send extractors to other processes).
    seed : int, default 0
        Seed for the random ranges and indices.

    Raises
    ------
    AssertionError
        Naming the first property that does not hold.
    """
    checked = _check_description(extractor, np.random.default_rng(seed))
    _check_full_read(checked, expected_video, max_full_read_frames)
    _check_ranges(checked)
    _check_random_access(checked)
    _check_slices(checked)
    _check_chunks(checked)
    _check_times(checked)
    _check_errors(checked)
    if check_pickle:
        _check_pickle(checked)


def _check_description(extractor: DepthVideoExtractor, rng: np.random.Generator) -> _Checked:
    """Image size, frame count, rate, dtype, camera and metadata."""
    name = type(extractor).__name__
    size = extractor.get_image_size()
    _expect(
        isinstance(size, tuple)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size),
        f"{name}.get_image_size() must be a (rows, cols) tuple of positive ints, got {size!r}",
    )
    rows, cols = size
    num_frames = extractor.get_num_frames()
    _expect(
        isinstance(num_frames, int) and num_frames >= 1, f"{name}: bad frame count {num_frames!r}"
    )
    _expect(len(extractor) == num_frames, f"{name}: len() differs from get_num_frames()")
    fs = extractor.get_sampling_frequency()
    _expect(
        isinstance(fs, float) and fs > 0, f"{name}: sampling frequency must be a positive float"
    )
    _expect(extractor.get_dtype() == np.uint16, f"{name}: dtype must be uint16")
    _expect(extractor.camera.image_size == size, f"{name}: camera image size differs from frames")
    _expect(isinstance(extractor.get_metadata(), dict), f"{name}: metadata must be a dict")
    return _Checked(extractor, name, rng, rows, cols, num_frames)


def _check_full_read(
    checked: _Checked, expected_video: np.ndarray | None, max_full_read_frames: int
) -> None:
    """The whole video read at once (when short enough), and against the expected frames."""
    extractor, name, num_frames = checked.extractor, checked.name, checked.num_frames
    checked.full = num_frames <= max_full_read_frames
    reference = extractor.get_video() if checked.full else None
    checked.reference = reference
    if reference is not None:
        _expect(
            reference.shape == (num_frames, checked.rows, checked.cols),
            f"{name}: get_video() shape {reference.shape}",
        )
        _expect(reference.dtype == np.uint16, f"{name}: get_video() dtype {reference.dtype}")
    if expected_video is not None:
        if reference is not None:
            _expect(
                np.array_equal(reference, expected_video),
                f"{name}: frames differ from the expected video",
            )
        else:
            picks = checked.rng.integers(0, num_frames, 8)
            _expect(
                np.array_equal(extractor.get_frames(picks), expected_video[picks]),
                f"{name}: sampled frames differ from the expected video",
            )


def _check_ranges(checked: _Checked) -> None:
    """``get_video`` ranges, including negative and clamped bounds."""
    extractor, name, num_frames = checked.extractor, checked.name, checked.num_frames
    reference = checked.reference
    for _ in range(6):
        a, b = sorted(checked.rng.integers(0, num_frames + 1, 2))
        video = extractor.get_video(int(a), int(b))
        _expect(
            video.shape == (b - a, checked.rows, checked.cols),
            f"{name}: get_video({a}, {b}) shape {video.shape}",
        )
        if reference is not None:
            _expect(
                np.array_equal(video, reference[a:b]), f"{name}: get_video({a}, {b}) values differ"
            )
    tail = extractor.get_video(-1)
    _expect(
        np.array_equal(tail, checked.frames_of(num_frames - 1, num_frames)),
        f"{name}: get_video(-1) is not the last frame",
    )
    _expect(
        extractor.get_video(num_frames - 1, num_frames + 10).shape[0] == 1,
        f"{name}: an end past the last frame must be clamped",
    )


def _check_random_access(checked: _Checked) -> None:
    """``get_frames`` (any order, repeats, negative indices, an int, a mask) against reads."""
    extractor, name, num_frames = checked.extractor, checked.name, checked.num_frames
    rng = checked.rng
    picks = rng.integers(-num_frames, num_frames, min(12, 2 * num_frames))
    picks = np.r_[picks, picks[:2]]
    by_index = extractor.get_frames(picks)
    expected = np.stack(
        [checked.frames_of(int(p) % num_frames, int(p) % num_frames + 1)[0] for p in picks]
    )
    _expect(np.array_equal(by_index, expected), f"{name}: get_frames differs from get_video")
    _expect(
        np.array_equal(extractor.get_frames(int(picks[0])), expected[0]),
        f"{name}: get_frames(int) must return that one frame",
    )
    mask = np.zeros(num_frames, dtype=bool)
    mask[rng.integers(0, num_frames, 3)] = True
    _expect(
        np.array_equal(extractor.get_frames(mask), extractor.get_frames(np.flatnonzero(mask))),
        f"{name}: get_frames(boolean mask) differs from get_frames(indices)",
    )


def _check_slices(checked: _Checked) -> None:
    """Slices and slices of slices: their frames, times and bounds."""
    extractor, name, num_frames = checked.extractor, checked.name, checked.num_frames
    rng = checked.rng
    a, b = sorted(int(v) for v in rng.integers(0, num_frames + 1, 2))
    view = extractor.frame_slice(a, b)
    _expect(isinstance(view, FrameSliceDepthExtractor), f"{name}: frame_slice must return a view")
    _expect(view.get_num_frames() == b - a, f"{name}: slice frame count")
    if b > a:
        _expect(np.array_equal(view.get_video(), checked.frames_of(a, b)), f"{name}: slice values")
        c, d = sorted(int(v) for v in rng.integers(0, b - a + 1, 2))
        inner = view.frame_slice(c, d)
        _expect(
            np.array_equal(inner.get_video(), checked.frames_of(a + c, a + d)),
            f"{name}: slice of slice values",
        )
        _expect(
            np.allclose(view.get_timestamps(), extractor.get_timestamps(a, b)),
            f"{name}: slice times must be the parent's times of those frames",
        )
    start_only = extractor.frame_slice(num_frames // 2)
    _expect(
        start_only.get_num_frames() == num_frames - num_frames // 2,
        f"{name}: slice with a start only",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clamped = extractor.frame_slice(0, num_frames + 100)
    _expect(clamped.get_num_frames() == num_frames, f"{name}: slice end must be clamped")
    _expect(
        any("100 frames past the end" in str(w.message) for w in caught),
        f"{name}: a slice end clamped must be warned about, saying by how much",
    )


def _check_chunks(checked: _Checked) -> None:
    """Chunks: every frame new in exactly one chunk, overlap frames repeated before."""
    name, num_frames = checked.name, checked.num_frames
    chunk_size = max(1, min(num_frames // 3, 500)) if checked.full else 500
    last = num_frames if checked.full else min(num_frames, 3 * chunk_size)
    pieces = []
    for chunk in checked.extractor.iter_chunks(chunk_size, overlap=2, end_frame=last):
        _expect(chunk.frames.shape[0] == chunk.end - chunk.read_start, f"{name}: chunk shape")
        _expect(chunk.num_overlap == min(2, chunk.start), f"{name}: chunk overlap")
        pieces.append(chunk.new_frames)
    _expect(
        np.array_equal(np.concatenate(pieces), checked.frames_of(0, last)),
        f"{name}: chunks do not reassemble the video",
    )


def _check_times(checked: _Checked) -> None:
    """Times, frame/time conversion, and set times taking precedence (then removed again)."""
    extractor, name, num_frames = checked.extractor, checked.name, checked.num_frames
    times = extractor.get_timestamps()
    _expect(
        times.shape == (num_frames,) and times.dtype == np.float64,
        f"{name}: timestamps shape/dtype",
    )
    _expect(bool(np.all(np.diff(times) >= 0)), f"{name}: timestamps must not decrease")
    probe = int(checked.rng.integers(0, num_frames))
    _expect(
        extractor.time_to_frame(extractor.frame_to_time(probe)) <= probe, f"{name}: time_to_frame"
    )
    _expect(
        extractor.frame_to_time(probe) == times[probe],
        f"{name}: frame_to_time differs from timestamps",
    )
    saved = extractor._times
    try:
        custom = np.arange(num_frames, dtype=np.float64) * 0.5 + 7.0
        extractor.set_times(custom)
        _expect(extractor.has_time_vector(), f"{name}: has_time_vector after set_times")
        _expect(np.array_equal(extractor.get_timestamps(), custom), f"{name}: set times must win")
        _expect(
            extractor.time_to_frame(7.0 + 0.5 * probe + 0.1) == probe,
            f"{name}: time_to_frame on set times",
        )
    finally:
        extractor._times = saved


def _check_errors(checked: _Checked) -> None:
    """Errors on bad arguments."""
    extractor, name, num_frames = checked.extractor, checked.name, checked.num_frames
    _expect_raises(
        IndexError, lambda: extractor.get_frames([num_frames]), f"{name}.get_frames([frames])"
    )
    _expect_raises(
        ValueError, lambda: extractor.get_video(num_frames, 0), f"{name}.get_video(frames, 0)"
    )
    _expect_raises(TypeError, lambda: extractor.get_video(0.5, 2), f"{name}.get_video(0.5, 2)")
    _expect_raises(
        ValueError, lambda: extractor.frame_slice(num_frames, 0), f"{name}.frame_slice(frames, 0)"
    )
    _expect_raises(ValueError, lambda: next(extractor.iter_chunks(0)), f"{name}.iter_chunks(0)")
    _expect_raises(
        ValueError,
        lambda: extractor.set_times(np.zeros(num_frames + 1)),
        f"{name}.set_times(wrong length)",
    )


def _check_pickle(checked: _Checked) -> None:
    """A pickled and unpickled copy reads the same frames (batch runs send extractors away)."""
    clone = pickle.loads(pickle.dumps(checked.extractor))
    _expect(
        np.array_equal(clone.get_video(0, 1), checked.frames_of(0, 1)),
        f"{checked.name}: a pickled copy reads different frames",
    )
