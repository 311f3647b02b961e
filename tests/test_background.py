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
    median_without_transients,
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


# ------------------------------------------------------------------ transient objects
def _floor_stack(frames: int, noise_mm: float, seed: int) -> np.ndarray:
    """Noisy samples of a tilted floor about 700 mm away, (frames, 40, 50) uint16 mm."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:40, 0:50]
    floor = 700.0 + 0.2 * rows - 0.1 * cols
    return np.rint(floor + rng.normal(0.0, noise_mm, (frames, 40, 50))).astype(np.uint16)


def test_without_transients_is_the_plain_median_where_nothing_rests():
    stack = _floor_stack(15, 2.0, seed=1)
    stack[3, 10:20, 10:20] -= 30  # an animal passing in one sample
    stack[np.random.default_rng(2).random(stack.shape) < 0.05] = 0
    plain = median_ignoring_zeros(stack)
    np.testing.assert_array_equal(median_without_transients(stack, 10.0), plain)
    np.testing.assert_array_equal(median_without_transients(stack, 0.0), plain)


@pytest.mark.parametrize("resting", [8, 11, 12])
def test_an_animal_resting_through_most_samples_is_left_out(resting):
    stack = _floor_stack(15, 2.0, seed=3)
    floor = median_ignoring_zeros(stack)
    stack[:resting, 12:24, 15:30] -= 35  # on the floor in `resting` of 15 samples
    plain = median_ignoring_zeros(stack)
    repaired = median_without_transients(stack, 10.0)
    spot = (slice(12, 24), slice(15, 30))
    assert np.all(floor[spot] - plain[spot] > 25)  # the plain median keeps the animal
    # Left to the floor: the median of the 3-7 floor samples, within the noise of the floor's.
    assert np.max(np.abs(repaired[spot] - floor[spot])) < 6.0
    outside = np.ones(floor.shape, dtype=bool)
    outside[spot] = False
    np.testing.assert_array_equal(repaired[outside], plain[outside])


def test_an_object_in_nearly_every_sample_is_kept():
    stack = _floor_stack(15, 2.0, seed=4)
    stack[:13, 5:15, 5:15] -= 40  # the floor shows in 2 of 15 samples: under a fifth
    stack[:, 25:35, 30:45] -= 60  # a fixed object
    np.testing.assert_array_equal(
        median_without_transients(stack, 10.0), median_ignoring_zeros(stack)
    )


def test_a_noisy_camera_floor_is_not_taken_for_transients():
    # Noise of 8 mm: the far depth stands ~9 mm above the median on the bare floor, so a fixed
    # 10 mm threshold would move pixels; the threshold follows the noise instead.
    stack = _floor_stack(15, 8.0, seed=5)
    np.testing.assert_array_equal(
        median_without_transients(stack, 10.0), median_ignoring_zeros(stack)
    )


def _resting_with_rim(noise_mm: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A floor stack with an animal resting in 11 of 15 samples: a 35 mm tall back and an 8 mm
    rim (head, flanks) around it, under the 10 mm threshold. Returns the stack, the rim and the
    whole body."""
    stack = _floor_stack(15, noise_mm, seed=seed)
    rows, cols = np.mgrid[0:40, 0:50]
    body = ((rows - 20) / 9.0) ** 2 + ((cols - 25) / 14.0) ** 2 <= 1
    back = ((rows - 20) / 6.0) ** 2 + ((cols - 25) / 10.0) ** 2 <= 1
    stack[:11][:, body] -= 8
    stack[:11][:, back] -= 28
    return stack, body & ~back, body


def test_the_low_rim_of_a_resting_animal_is_left_out_too():
    stack, rim, body = _resting_with_rim(1.0, seed=6)
    floor = median_ignoring_zeros(_floor_stack(15, 1.0, seed=6))
    alone = median_without_transients(stack, 10.0, rim_share=1.0)
    repaired = median_without_transients(stack, 10.0)
    # The tall back alone leaves the 8 mm rim in the background; the rim rule takes it out.
    assert np.median(floor[rim] - alone[rim]) > 5
    # Left to the floor, but for the few pixels where the noise brings the rim's median within
    # 5 mm of the floor's, which stay as they were.
    off = np.abs(repaired[rim] - floor[rim])
    assert np.median(off) <= 1.0
    assert np.mean(off < 3.0) > 0.75  # none without the rim rule
    around = ndimage.binary_dilation(body, iterations=2)
    np.testing.assert_array_equal(repaired[~around], median_ignoring_zeros(stack)[~around])


def test_a_low_object_apart_from_any_transient_stays():
    stack = _floor_stack(15, 1.0, seed=7)
    stack[:11, 5:12, 5:15] -= 8  # low, in most samples, touching nothing taller
    stack[:11, 25:35, 30:45] -= 30  # a resting animal elsewhere
    repaired = median_without_transients(stack, 10.0)
    np.testing.assert_array_equal(repaired[5:12, 5:15], median_ignoring_zeros(stack)[5:12, 5:15])
    assert np.all(repaired[25:35, 30:45] - median_ignoring_zeros(stack)[25:35, 30:45] > 20)


def test_a_noisy_floor_does_not_spread_a_rim():
    # At 3 mm of noise the floor's own scatter reaches half the threshold: no rim is grown, and
    # only the tall back (the 10 mm rule) leaves the background.
    stack, _, _ = _resting_with_rim(3.0, seed=8)
    np.testing.assert_array_equal(
        median_without_transients(stack, 10.0), median_without_transients(stack, 10.0, 0.2, 1.0)
    )


@pytest.mark.parametrize(
    ("height", "share", "error"),
    [(-1.0, 0.2, ValueError), (10.0, 0.0, ValueError), (10.0, 1.5, ValueError)],
)
def test_without_transients_rejects_bad_arguments(height, share, error):
    with pytest.raises(error):
        median_without_transients(_floor_stack(3, 1.0, seed=0), height, share)


@pytest.mark.parametrize("rim_share", [0.0, -0.5, 1.5, float("nan")])
def test_without_transients_rejects_a_bad_rim_share(rim_share):
    with pytest.raises(ValueError, match="rim_share"):
        median_without_transients(_floor_stack(3, 1.0, seed=0), 10.0, rim_share=rim_share)


@pytest.mark.parametrize(
    ("value", "error"), [(-2.0, ValueError), (float("nan"), ValueError), ("10", TypeError)]
)
def test_background_rejects_a_bad_transient_height(value, error):
    with pytest.raises(error, match="transient_height"):
        StridedMedianBackground(transient_height=value)


@pytest.mark.parametrize("seed", [9, 10])
def test_a_resting_animal_leaves_little_of_itself_in_the_background(seed):
    # Another generator's animal, resting where it is in frame 0 for 60% of the session.
    video, truth = synthesize_depth_video(240, seed=seed)
    video[:144] = video[0]
    background = StridedMedianBackground().compute(NumpyDepthExtractor(video, 30.0))
    where_it_rests = (truth.floor_depth_mm - video[0].astype(np.float32) > 3) & truth.arena_mask
    left = (truth.floor_depth_mm - background)[where_it_rests] > 5.0
    # Without its low rim (head, flanks) left out too, 55 such pixels stay at either seed.
    assert np.count_nonzero(left) <= 15


def test_an_animal_resting_for_most_of_a_session_is_still_tracked():
    from depthextractors import SessionExtraction
    from depthextractors.io import InMemoryResultsWriter

    video, truth = synthesize_depth_video(240, seed=8)
    # The animal rests where it is in frame 0 for the first 60% of the session.
    resting = 144
    video[:resting] = video[0]
    still = truth.centroid_px[0]
    found = {}
    for height in (0.0, 10.0):
        extractor = NumpyDepthExtractor(video, 30.0)
        extraction = SessionExtraction(
            extractor, background=StridedMedianBackground(transient_height=height)
        )
        results = extraction.run(InMemoryResultsWriter(), progress=False, n_jobs=1)
        row0, _, col0, _ = extraction.arena.roi.bbox
        x = np.asarray(results.scalars["centroid_x_px"][:resting]) + col0
        y = np.asarray(results.scalars["centroid_y_px"][:resting]) + row0
        error = np.hypot(x - still[0], y - still[1])
        found[height] = np.isfinite(error) & np.asarray(results.valid[:resting], dtype=bool)
        if height:
            assert np.median(error[found[height]]) < 1.0
    # moseq2-extract's plain median keeps the resting animal and loses it while it rests.
    assert found[0.0].mean() < 0.5
    assert found[10.0].mean() == 1.0
