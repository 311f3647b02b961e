"""Background strategies: strided median with invalid pixels ignored, and the plane background."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from depthextractors.extraction import (
    PlaneFitBackground,
    PlaneROI,
    StridedMedianBackground,
    median_ignoring_zeros,
)
from depthextractors.extractors import NumpyDepthExtractor
from depthextractors.testing import generate_synthetic_session, synthesize_depth_video


class RecordingExtractor(NumpyDepthExtractor):
    """A numpy extractor that records every read, to check what the background reads."""

    def __init__(self, video: np.ndarray, camera: str = "auto") -> None:
        super().__init__(video, 30.0, camera=camera)
        self.frame_requests: list[list[int]] = []
        self.video_requests: list[tuple[int, int]] = []
        self.indices_read: list[list[int]] = []

    def get_frames(self, frame_indices):
        self.frame_requests.append(np.atleast_1d(frame_indices).tolist())
        return super().get_frames(frame_indices)

    def _read_frames(self, indices):
        self.indices_read.append(indices.tolist())
        return super()._read_frames(indices)

    def get_video(self, start_frame=None, end_frame=None):
        self.video_requests.append((start_frame, end_frame))
        return super().get_video(start_frame, end_frame)


@pytest.fixture(scope="module", params=[("kinect_v2", "round"), ("azure_nfov_unbinned", "square")])
def synthetic(request):
    camera, arena = request.param
    video, truth = synthesize_depth_video(
        240, camera=camera, arena=arena, floor_tilt_deg=(2.0, -1.5), dropout_fraction=0.02, seed=4
    )
    return NumpyDepthExtractor(video, 30.0, camera=camera), truth


def test_background_matches_the_floor_inside_the_arena(synthetic):
    extractor, truth = synthetic
    background = StridedMedianBackground(frame_stride=8).compute(extractor)
    assert background.dtype == np.float32
    assert background.shape == truth.arena_mask.shape
    inside = truth.arena_mask
    error = background[inside] - truth.floor_depth_mm[inside]
    # The mouse covers any one pixel in few of the sampled frames, so the median is the floor.
    assert abs(np.median(background[inside]) - np.median(truth.floor_depth_mm[inside])) < 1.0
    assert np.median(np.abs(error)) < 1.0
    assert np.percentile(np.abs(error), 99) < 3.0


def test_background_reads_only_the_strided_frames_once():
    video, _ = synthesize_depth_video(50, seed=1)
    extractor = RecordingExtractor(video)
    StridedMedianBackground(frame_stride=20, median_filter_size=3, min_frames=1).compute(extractor)
    assert extractor.frame_requests == [[0, 20, 40]]
    assert extractor.indices_read == [[0, 20, 40]]
    assert extractor.video_requests == []


def test_short_sessions_are_sampled_at_evenly_spaced_frames():
    background = StridedMedianBackground(frame_stride=500, min_frames=15)
    assert background.frame_indices(3000).size == 15
    assert background.frame_indices(900).size == 15
    assert background.frame_indices(900)[[0, -1]].tolist() == [0, 899]
    assert background.frame_indices(10).tolist() == list(range(10))
    assert background.frame_indices(20_000).tolist() == list(range(0, 20_000, 500))


def test_a_900_frame_session_keeps_the_mouse_out_of_the_background():
    video, truth = synthesize_depth_video(900, seed=5)
    background = StridedMedianBackground().compute(NumpyDepthExtractor(video, 30.0))
    inside = truth.arena_mask & (background > 0)
    error = np.abs(background[inside] - truth.floor_depth_mm[inside])
    assert np.max(error) < 8.0  # a mouse baked in would leave 20-40 mm bumps


def test_background_ignores_zeros_and_keeps_never_valid_pixels_at_zero():
    video = np.full((5, 8, 9), 700, dtype=np.uint16)
    video[:, 2, 3] = [0, 0, 650, 660, 0]  # two valid values: their mean
    video[:, 4, 4] = [0, 0, 0, 0, 0]  # never valid
    video[:, 6, 6] = [710, 0, 720, 730, 0]  # three valid values: the middle one
    background = StridedMedianBackground(frame_stride=1, median_filter_size=1).compute(
        NumpyDepthExtractor(video, 30.0)
    )
    assert background[2, 3] == pytest.approx(655.0)
    assert background[4, 4] == 0.0
    assert background[6, 6] == pytest.approx(720.0)
    assert background[0, 0] == pytest.approx(700.0)


def test_median_ignoring_zeros_equals_nanmedian():
    rng = np.random.default_rng(11)
    stack = rng.integers(1, 2000, size=(13, 37, 41)).astype(np.uint16)
    stack[rng.random(stack.shape) < 0.3] = 0
    stack[:, 0, :5] = 0
    as_float = np.where(stack == 0, np.nan, stack.astype(np.float64))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(as_float, axis=0)
    expected = np.nan_to_num(expected, nan=0.0)
    np.testing.assert_allclose(median_ignoring_zeros(stack), expected, rtol=0, atol=1e-3)


def test_median_blur_is_applied_before_the_median():
    rng = np.random.default_rng(2)
    video = rng.integers(600, 700, size=(3, 30, 40)).astype(np.uint16)
    extractor = NumpyDepthExtractor(video, 30.0)
    for size in (3, 7):
        background = StridedMedianBackground(frame_stride=1, median_filter_size=size).compute(
            extractor
        )
        blurred = np.stack([ndimage.median_filter(f, size=size, mode="nearest") for f in video])
        # Away from the border OpenCV's and scipy's median filters agree exactly.
        inner = (slice(size, -size), slice(size, -size))
        np.testing.assert_array_equal(
            background[inner], np.median(blurred, axis=0).astype(np.float32)[inner]
        )


class ViewFrames(NumpyDepthExtractor):
    """Returns strided reads as views of its own array (allowed for a careful extractor)."""

    def _read_frames(self, indices):
        step = int(indices[1] - indices[0]) if indices.size > 1 else 1
        return self._video[indices[0] : indices[-1] + 1 : step]


def test_background_never_writes_into_the_extractors_frames():
    rng = np.random.default_rng(5)
    video = rng.integers(600, 700, size=(9, 20, 30)).astype(np.uint16)
    original = video.copy()
    extractor = ViewFrames(video, 30.0)
    background = StridedMedianBackground(frame_stride=4, median_filter_size=5).compute(extractor)
    np.testing.assert_array_equal(extractor.get_video(), original)
    assert background.shape == (20, 30)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"frame_stride": 0}, ValueError),
        ({"frame_stride": 2.5}, TypeError),
        ({"median_filter_size": 4}, ValueError),
        ({"median_filter_size": 0}, ValueError),
    ],
)
def test_background_rejects_bad_parameters(kwargs, error):
    with pytest.raises(error):
        StridedMedianBackground(**kwargs)


def test_background_on_a_raw_session_on_disk(tmp_path):
    from depthextractors.extractors import RawDepthExtractor

    session = generate_synthetic_session(tmp_path / "s", 120, arena="square", seed=5)
    extractor = RawDepthExtractor(session.depth_path)
    background = StridedMedianBackground(frame_stride=6).compute(extractor)
    inside = session.truth.arena_mask
    assert np.median(np.abs(background[inside] - session.truth.floor_depth_mm[inside])) < 1.0


def test_plane_background_is_the_floor_plane(synthetic):
    extractor, truth = synthetic
    strategy = PlaneFitBackground(frame_stride=8, roi=PlaneROI(seed=3))
    plane_background = strategy.compute(extractor)
    assert plane_background.dtype == np.float32
    # The plane extends the floor under the walls and beyond: compare everywhere.
    assert np.max(np.abs(plane_background - truth.floor_depth_mm)) < 1.0
    assert strategy.arena is not None
    assert strategy.median_background is not None
