"""SessionExtraction end to end: chunking, trimming, flip hook, bad input, crash safety."""

from __future__ import annotations

import os
import warnings
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml

from depthextractors import (
    ManualROI,
    MomentsTracker,
    NumpyDepthExtractor,
    SessionExtraction,
    StridedMedianBackground,
)
from depthextractors.extraction import (
    ArenaROI,
    FlipCorrector,
    FrameFilters,
    HampelFilter,
    ResultsWriter,
    ROIStrategy,
    Strategy,
    TrackedObject,
    Tracker,
    build_strategy,
)
from depthextractors.extraction.crop import turn_round
from depthextractors.io import H5ResultsWriter, InMemoryResultsWriter
from depthextractors.testing import synthesize_depth_video


@pytest.fixture(scope="module")
def clip():
    video, truth = synthesize_depth_video(150, seed=7, dropped_frames=2)
    times = truth.timestamps_ms / 1000.0
    return NumpyDepthExtractor(video, 30.0, timestamps=times), truth


def _extraction(extractor, truth, **kwargs):
    kwargs.setdefault("roi", ManualROI(truth.arena_mask))
    kwargs.setdefault("background", StridedMedianBackground(frame_stride=10))
    return SessionExtraction(extractor, **kwargs)


def _same_results(a, b):
    np.testing.assert_array_equal(a.frames[:], b.frames[:])
    np.testing.assert_array_equal(a.frames_mask[:], b.frames_mask[:])
    for name in a.scalars:
        np.testing.assert_array_equal(a.scalars[name][:], b.scalars[name][:], err_msg=name)


def test_results_do_not_depend_on_chunk_size_or_threads(clip):
    extractor, truth = clip
    filters = FrameFilters(temporal_size=3)
    hampel = HampelFilter(span=5, sig=3)
    whole = _extraction(
        extractor, truth, filters=filters, centroid_hampel=hampel, angle_hampel=hampel,
    ).run(InMemoryResultsWriter(), chunk_size=1000, n_jobs=1, progress=False)  # fmt: skip
    pieces = _extraction(
        extractor, truth, chunk_overlap=3, filters=filters, centroid_hampel=hampel,
        angle_hampel=hampel,
    ).run(InMemoryResultsWriter(), chunk_size=17, n_jobs=2, progress=False)  # fmt: skip
    assert len(whole) == 150
    _same_results(whole, pieces)


def test_temporal_filter_changes_frames_but_keeps_tracking(clip):
    extractor, truth = clip
    plain = _extraction(extractor, truth).run(InMemoryResultsWriter(), progress=False)
    smoothed = _extraction(extractor, truth, filters=FrameFilters(temporal_size=5)).run(
        InMemoryResultsWriter(), progress=False
    )
    assert not np.array_equal(plain.scalars["centroid_x_px"], smoothed.scalars["centroid_x_px"])
    diff = np.abs(plain.scalars["centroid_x_px"] - smoothed.scalars["centroid_x_px"])
    assert np.median(diff) < 1.0


def test_crops_point_the_body_axis_east(clip):
    extractor, truth = clip
    results = _extraction(extractor, truth).run(InMemoryResultsWriter(), progress=False)
    masks = results.frames_mask[:]
    # Elongated along x: the animal lies east-west in every crop, centred on the crop centre.
    for mask in masks[::10]:
        yy, xx = np.nonzero(mask)
        assert np.ptp(xx) > 1.5 * np.ptp(yy)
        assert abs(xx.mean() - 40) < 2
        assert abs(yy.mean() - 40) < 1.0
    assert results.frames[:].dtype == np.uint8
    assert results.frames[:].max() <= 100


def test_frame_trim_and_num_frames(clip):
    extractor, truth = clip
    full = _extraction(extractor, truth).run(InMemoryResultsWriter(), progress=False)
    part = _extraction(extractor, truth, frame_trim=(10, 5), num_frames=100).run(
        InMemoryResultsWriter(), progress=False
    )
    assert len(part) == 85
    assert part.metadata["first_frame_idx"] == 10
    assert part.metadata["last_frame_idx"] == 95
    np.testing.assert_allclose(part.timestamps, full.timestamps[10:95])
    np.testing.assert_array_equal(part.frames[:], full.frames[10:95])
    np.testing.assert_array_equal(
        part.scalars["centroid_x_px"], full.scalars["centroid_x_px"][10:95]
    )


class _FlipOddFrames(FlipCorrector):
    """A trivial corrector: flips every odd frame, remembers what it saw."""

    def __init__(self):
        self.calls = []
        self.finalized = False

    def correct(self, context):
        self.calls.append((context.start, len(context.frames)))
        index = context.start + np.arange(len(context.frames))
        return index % 2 == 1

    def finalize(self):
        self.finalized = True


def test_flip_corrector_hook(clip, tmp_path):
    extractor, truth = clip
    plain = _extraction(extractor, truth).run(
        InMemoryResultsWriter(), chunk_size=40, progress=False
    )
    corrector = _FlipOddFrames()
    flipped = _extraction(extractor, truth, flip_corrector=corrector).run(
        H5ResultsWriter(tmp_path), chunk_size=40, progress=False
    )
    assert corrector.calls == [(0, 40), (40, 40), (80, 40), (120, 30)]
    assert corrector.finalized
    flips = flipped.flips[:]
    np.testing.assert_array_equal(flips, np.arange(150) % 2 == 1)
    odd = np.arange(1, 150, 2)
    even = np.arange(0, 150, 2)
    np.testing.assert_allclose(
        flipped.scalars["angle"][odd], plain.scalars["angle"][odd] + np.pi, atol=1e-5
    )
    np.testing.assert_array_equal(flipped.scalars["angle"][even], plain.scalars["angle"][even])
    # Turned 180 degrees about the crop's centre pixel (where the centroid is).
    np.testing.assert_array_equal(flipped.frames[1], turn_round(plain.frames[1:2])[0])
    np.testing.assert_array_equal(flipped.frames[1][1:, 1:], plain.frames[1][:0:-1, :0:-1])
    np.testing.assert_array_equal(flipped.frames[0], plain.frames[0])
    # The corrector used is recorded by its class (with the strategies, not the moseq2 keys).
    recorded = flipped.metadata["strategies"]["flip_corrector"]["class"]
    assert recorded == f"{_FlipOddFrames.__module__}._FlipOddFrames"


def test_animal_never_found_completes_with_a_warning(tmp_path):
    floor = np.full((20, 424, 512), 680, dtype=np.uint16)
    extractor = NumpyDepthExtractor(floor, 30.0)
    mask = np.zeros((424, 512), dtype=bool)
    mask[100:300, 100:400] = True
    with pytest.warns(UserWarning, match="not found in any"):
        results = SessionExtraction(extractor, roi=ManualROI(mask)).run(
            H5ResultsWriter(tmp_path), progress=False
        )
    assert len(results) == 20
    assert not results.valid.any()
    assert np.isnan(results.scalars["centroid_x_px"][:]).all()
    assert not results.frames[:].any()
    assert yaml.safe_load((tmp_path / "results_00.yaml").read_text())["complete"] is True


def test_invalid_pixels_are_not_tall_objects(clip):
    extractor, truth = clip
    video = extractor.get_video()
    holes = video.copy()
    # A block of invalid (0) depth far from the animal must not become the tracked object.
    holes[:, 60:90, 200:230] = 0
    results = _extraction(NumpyDepthExtractor(holes, 30.0), truth).run(
        InMemoryResultsWriter(), progress=False
    )
    reference = _extraction(extractor, truth).run(InMemoryResultsWriter(), progress=False)
    np.testing.assert_allclose(
        results.scalars["centroid_x_px"], reference.scalars["centroid_x_px"], atol=1e-4
    )


def test_unwritable_output_directory_fails_before_work(clip, tmp_path):
    extractor, truth = clip
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    target = locked / "proc"
    if hasattr(os, "geteuid") and os.geteuid() == 0 and os.path.isdir("/proc/self"):
        # Permissions do not stop root; nobody can create directories in /proc.
        target = "/proc/depthextractors-no-such-dir/proc"
    extraction = _extraction(extractor, truth)
    try:
        with pytest.raises(PermissionError, match="cannot write"):
            extraction.run(H5ResultsWriter(target), progress=False)
    finally:
        locked.chmod(0o700)
    assert extraction.arena is None  # failed before the background was computed


def test_output_path_that_is_a_file_fails_before_work(clip, tmp_path):
    extractor, truth = clip
    blocker = tmp_path / "proc"
    blocker.write_text("not a directory")
    extraction = _extraction(extractor, truth)
    with pytest.raises(NotADirectoryError, match="existing file"):
        extraction.run(H5ResultsWriter(blocker), progress=False)
    assert extraction.arena is None  # nothing was computed


class _ExplodingTracker(MomentsTracker):
    def __init__(self, fail_after):
        super().__init__()
        self.seen = 0
        self.fail_after = fail_after

    def find(self, image):
        self.seen += 1
        if self.seen > self.fail_after:
            raise RuntimeError("simulated crash in the middle of the session")
        return super().find(image)


def test_crash_leaves_an_incomplete_status_and_no_results_file(clip, tmp_path):
    extractor, truth = clip
    # A complete earlier run in the same directory must not survive looking complete.
    _extraction(extractor, truth).run(H5ResultsWriter(tmp_path), progress=False)
    assert (tmp_path / "results_00.h5").exists()
    with pytest.raises(RuntimeError, match="simulated crash"):
        _extraction(extractor, truth, tracker=_ExplodingTracker(60)).run(
            H5ResultsWriter(tmp_path), chunk_size=50, progress=False
        )
    status = yaml.safe_load((tmp_path / "results_00.yaml").read_text())
    assert status["complete"] is False
    assert status["status"] == "failed"
    assert "simulated crash" in status["error"]
    assert not (tmp_path / "results_00.h5").exists()
    assert not list(tmp_path.glob("*.partial"))
    assert not (tmp_path / "extraction.lock").exists()  # the directory was given up


def test_status_is_incomplete_while_running(clip, tmp_path):
    extractor, truth = clip
    seen = {}

    class SpyWriter(H5ResultsWriter):
        def write(self, chunk):
            seen.setdefault("status", yaml.safe_load(self.yaml_path.read_text()))
            seen.setdefault("final_exists", self.h5_path.exists())
            super().write(chunk)

    results = _extraction(extractor, truth).run(SpyWriter(tmp_path), progress=False)
    assert seen["status"]["complete"] is False
    assert seen["status"]["status"] == "running"
    assert seen["final_exists"] is False
    assert results.path == tmp_path / "results_00.h5"


def test_find_roi_alone_writes_images(clip, tmp_path):
    from depthextractors.io import write_arena_images

    extractor, truth = clip
    extraction = _extraction(extractor, truth)
    arena = extraction.find_roi()
    assert not any(tmp_path.iterdir())  # the arena step itself writes nothing
    write_arena_images(tmp_path, arena.background, arena.roi.mask, arena.first_frame)
    assert {p.name for p in tmp_path.iterdir()} == {"bground.tiff", "roi.tiff", "first_frame.tiff"}
    np.testing.assert_array_equal(arena.roi.mask, truth.arena_mask)
    assert arena.background.shape == (424, 512)


def test_bad_arguments_are_explained(clip):
    extractor, truth = clip
    with pytest.raises(TypeError, match="DepthVideoExtractor"):
        SessionExtraction(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="chunk_size"):
        _extraction(extractor, truth).run(InMemoryResultsWriter(), chunk_size=0)
    with pytest.raises(ValueError, match="frame_dtype"):
        _extraction(extractor, truth, frame_dtype="float32")
    with pytest.raises(ValueError, match="8-bit"):
        _extraction(extractor, truth, tracker=MomentsTracker(max_height=300))
    with pytest.raises(TypeError, match="correct"):
        _extraction(extractor, truth, flip_corrector=object())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="num_frames"):
            _extraction(extractor, truth, num_frames=10_000).frame_range()


def test_height_conversion_fast_path_matches_the_definition():
    from depthextractors.extraction import ArenaHeights

    rng = np.random.default_rng(5)
    background = (680 + rng.normal(0, 3, (60, 70))).round(1).astype(np.float32)
    background[::7, ::5] += 0.5
    mask = np.ones((60, 70), dtype=bool)
    mask[:, :8] = False
    mask[50:, 20:30] = False  # a hole inside the bounding box
    depth = (background - rng.uniform(-30, 130, background.shape)).round().astype(np.uint16)
    depth[rng.random(depth.shape) < 0.05] = 0  # invalid pixels
    height = np.floor(background.astype(np.float64) - depth)
    expected = np.where((depth > 0) & mask & (height >= 10) & (height <= 100), height, 0).astype(
        np.uint8
    )[:, 8:]
    fast = ArenaHeights(background, mask, 10, 100, np.uint8)
    assert fast._fast
    assert fast.bbox == (0, 60, 8, 70)
    np.testing.assert_array_equal(fast(depth[None])[0], expected)
    slow = ArenaHeights(background, mask, 10, 100, np.uint16)
    assert not slow._fast
    out16 = slow(depth[None])
    assert out16.dtype == np.uint16
    np.testing.assert_array_equal(out16[0], expected)
    with pytest.raises(ValueError, match="ROI is empty"):
        ArenaHeights(background, np.zeros_like(mask), 10, 100)
    with pytest.raises(ValueError, match="same camera"):
        ArenaHeights(background, mask[:, :60], 10, 100)


def test_plane_background_and_16_bit_frames(clip, tmp_path):
    from depthextractors import PlaneFitBackground

    extractor, truth = clip
    results = SessionExtraction(
        extractor,
        roi=ManualROI(truth.arena_mask),
        background=PlaneFitBackground(frame_stride=10),
        frame_dtype="uint16",
        tracker=MomentsTracker(max_height=300),
    ).run(H5ResultsWriter(tmp_path), progress=False)
    assert results.frames[:].dtype == np.uint16
    assert results.valid.all()
    assert results.parameters["use_plane_bground"] is True
    reference = _extraction(extractor, truth).run(InMemoryResultsWriter(), progress=False)
    difference = np.hypot(
        results.scalars["centroid_x_px"] - reference.scalars["centroid_x_px"],
        results.scalars["centroid_y_px"] - reference.scalars["centroid_y_px"],
    )
    assert np.median(difference) < 0.5


def test_in_memory_results_warn_when_large(clip, monkeypatch):
    from depthextractors.io import results as results_module

    extractor, truth = clip
    monkeypatch.setattr(results_module, "_IN_MEMORY_WARNING_BYTES", 1e5)
    with pytest.warns(UserWarning, match="in memory"):
        _extraction(extractor, truth, num_frames=20).run(InMemoryResultsWriter(), progress=False)


def test_hampel_filters_repair_isolated_tracking_outliers(clip):
    extractor, truth = clip
    video = extractor.get_video().copy()
    background_depth = np.median(video[:, 60:80, 240:260])
    corrupted = [30, 77, 121]
    for index in corrupted:
        # A box taller and larger than the mouse, lying north-south, appears for one frame:
        # the tracker follows it, its centroid and angle jump.
        video[index, 280:360, 140:180] = background_depth - 40
    corrupt = NumpyDepthExtractor(video, 30.0)
    hampel = HampelFilter(span=5, sig=3)
    # As moseq2-extract: the largest object of every frame, not tracked again near the
    # neighbours' place (which finds the mouse itself: see the end).
    raw = _extraction(corrupt, truth, retrack_jumps=False).run(
        InMemoryResultsWriter(), progress=False
    )
    fixed = _extraction(
        corrupt, truth, centroid_hampel=hampel, angle_hampel=hampel, retrack_jumps=False
    ).run(InMemoryResultsWriter(), progress=False)
    clean = _extraction(extractor, truth).run(InMemoryResultsWriter(), progress=False)

    def distance(results, frames):
        return np.hypot(
            results.scalars["centroid_x_px"][frames] - clean.scalars["centroid_x_px"][frames],
            results.scalars["centroid_y_px"][frames] - clean.scalars["centroid_y_px"][frames],
        )

    assert (distance(raw, corrupted) > 50).all()
    assert (distance(fixed, corrupted) < 3).all()

    def angle_error(results):
        difference = results.scalars["angle"][corrupted] - clean.scalars["angle"][corrupted]
        return np.degrees(np.abs(np.angle(np.exp(2j * difference))) / 2)

    assert angle_error(raw).min() > 30
    assert angle_error(fixed).max() < 5
    # The crops of the repaired frames show the mouse again, not the box.
    for index in corrupted:
        assert (
            np.corrcoef(
                fixed.frames[index].ravel().astype(float), clean.frames[index].ravel().astype(float)
            )[0, 1]
            > 0.8
        )
    others = np.setdiff1d(np.arange(150), corrupted)
    assert np.median(distance(fixed, others)) < 0.05
    # Tracked again (the default), the frames hold the mouse as if the box were not there.
    retracked = _extraction(corrupt, truth).run(InMemoryResultsWriter(), progress=False)
    assert retracked.parameters["retrack_jumps"] is True
    assert (distance(retracked, corrupted) < 0.01).all()
    assert angle_error(retracked).max() < 0.1


class _TruthFlips(FlipCorrector):
    """Flip corrector that knows the true heading (to check the nose-east convention)."""

    def __init__(self, heading):
        self.heading = heading

    def correct(self, context):
        truth = self.heading[context.start : context.start + len(context.frames)]
        return np.cos(context.angle - truth) < 0


def test_flipped_crops_point_the_nose_east(clip):
    extractor, truth = clip
    results = _extraction(extractor, truth, flip_corrector=_TruthFlips(truth.heading)).run(
        InMemoryResultsWriter(), progress=False
    )
    error = np.angle(np.exp(1j * (results.scalars["angle"][:] - truth.heading)))
    assert np.degrees(np.abs(error)).max() < 5  # heading right, not just the axis
    frames = results.frames[:].astype(np.float64)
    # The synthetic mouse's rear is taller than its head: east half lower than west half.
    east, west = frames[:, :, 41:].sum(axis=(1, 2)), frames[:, :, :40].sum(axis=(1, 2))
    assert np.mean(east < west) > 0.95


def test_filtering_around_the_animal_equals_filtering_the_whole_box(clip):
    from depthextractors.extraction.stages import nonzero_region

    extractor, _ = clip
    filters = FrameFilters(cable_iterations=1)
    tracker = MomentsTracker()
    margin = filters.region_margin()
    background = np.median(extractor.get_video(0, 150)[::10], axis=0).astype(np.float32)
    for index in (0, 50, 149):
        depth = extractor.get_video(index, index + 1)[0].astype(np.float32)
        height = np.floor(background - depth)
        height[(height < 10) | (height > 100) | (depth == 0)] = 0
        height = height.astype(np.uint8)
        height[5, 5] = 40  # a far-away speck widens the window to the frame's corner
        whole = filters.apply_spatial(height)
        y0, y1, x0, x1 = nonzero_region(height, margin)
        part = filters.apply_spatial(height[y0:y1, x0:x1])
        np.testing.assert_array_equal(part, whole[y0:y1, x0:x1])
        outside = np.ones(whole.shape, dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert not whole[outside].any()
        found = tracker.track(part, (x0, y0))
        reference = tracker.track(whole)
        assert (found.x, found.y, found.orientation) == pytest.approx(
            (reference.x, reference.y, reference.orientation)
        )


def test_sequential_tracker_input_from_the_filtered_region_equals_the_whole_box_one():
    """The box a sequential tracker gets (non-zero pixels plus one pixel) is the same taken
    from the filtered region as from the whole-box frame, also where the margin reaches past
    the region (padded with floor) or the box's edge (clipped)."""
    from depthextractors.extraction.frame_stages import _set_input, _tight_input

    rng = np.random.default_rng(0)
    box = (60, 80)
    cases = [
        ((10, 30, 20, 50), (12, 25, 22, 40)),  # inside the region with room to spare
        ((10, 30, 20, 50), (10, 30, 20, 50)),  # non-zero up to the region's edges: padded
        ((0, 60, 0, 80), (0, 60, 70, 80)),  # the whole box: clipped at its edges
        ((5, 20, 5, 20), None),  # nothing left after filtering
    ]
    for dtype in (np.uint8, np.uint16):
        for (y0, y1, x0, x1), nonzero in cases:
            full = np.zeros(box, dtype=dtype)
            if nonzero is not None:
                r0, r1, c0, c1 = nonzero
                full[r0:r1, c0:c1] = rng.integers(0, 3, (r1 - r0, c1 - c0))
                full[r0, c0] = full[r1 - 1, c1 - 1] = 7
            work = SimpleNamespace(images=[None])
            _set_input(work, 0, full)
            found = _tight_input(full[y0:y1, x0:x1].copy(), x0, y0, box)
            if work.images[0] is None:
                assert found is None
                continue
            expected, ex, ey = work.images[0]
            image, fx, fy = found
            assert (fx, fy) == (ex, ey)
            np.testing.assert_array_equal(image, expected)
            assert image.dtype == expected.dtype


def test_plane_background_finds_the_arena_on_the_median_image(clip):
    """The plane is flat everywhere; the arena must come from the median image it was fitted to."""
    from depthextractors import PlaneFitBackground, PlaneROI

    extractor, truth = clip
    arena = SessionExtraction(
        extractor, roi=PlaneROI(dilate=(1, 1)), background=PlaneFitBackground(frame_stride=10)
    ).find_roi()
    overlap = np.sum(arena.roi.mask & truth.arena_mask) / np.sum(arena.roi.mask | truth.arena_mask)
    assert overlap > 0.95
    assert abs(arena.roi.true_depth - truth.true_depth_mm) < 2.0


class _ArenaRecorder(ResultsWriter):
    """An in-memory writer that also asks for the arena heights and keeps them."""

    def __init__(self, step):
        self.inner = InMemoryResultsWriter()
        self.arena_heights_step = step
        self.chunks = []
        self.opencv_threads = set()

    def begin(self, setup):
        self.inner.begin(setup)

    def write(self, chunk):
        import cv2

        self.opencv_threads.add(cv2.getNumThreads())
        # The chunk's arrays are reused once write returns (the writer contract): copy.
        heights = chunk.arena_heights
        self.chunks.append((chunk.start, None if heights is None else heights.copy()))
        self.inner.write(chunk)

    def finish(self):
        return self.inner.finish()

    def abort(self, error):
        self.inner.abort(error)


def test_writers_that_ask_get_the_arena_heights_the_tracker_saw(clip):
    import cv2

    from depthextractors.extraction import ArenaHeights

    extractor, truth = clip
    recorder = _ArenaRecorder(step=3)
    before = cv2.getNumThreads()
    results = _extraction(extractor, truth, chunk_overlap=5).run(
        recorder, chunk_size=40, n_jobs=2, progress=False
    )
    # OpenCV runs without its own threads during the extraction, and as before afterwards.
    assert recorder.opencv_threads == {1}
    assert cv2.getNumThreads() == before
    starts = [start for start, _ in recorder.chunks]
    assert starts == sorted(starts)
    assert starts[0] == 0
    arena = np.concatenate([heights for _, heights in recorder.chunks])
    assert len(arena) == len(results) == 150
    expected = ArenaHeights(results.background, truth.arena_mask, 10, 100)(extractor.get_video())[
        :, ::3, ::3
    ]
    assert arena.dtype == np.uint8
    np.testing.assert_array_equal(arena, expected)
    assert arena.max() > 20  # the animal is in there


def test_writers_that_do_not_ask_get_no_arena_heights_and_bad_steps_are_refused(clip):
    extractor, truth = clip
    recorder = _ArenaRecorder(step=None)
    _extraction(extractor, truth).run(recorder, progress=False)
    assert all(heights is None for _, heights in recorder.chunks)
    for step in (0, 1.5, True, -2):
        with pytest.raises(ValueError, match="arena_heights_step must be a positive whole"):
            _extraction(extractor, truth).run(_ArenaRecorder(step), progress=False)


# ---------------------------------------------------------------------- contracts (issue 12)
class _HeightWeightedCentroid(Tracker):
    """A custom tracker in one method: the height-weighted centroid of the largest
    8-connected object (the session zeroes heights outside [min_height, max_height])."""

    min_height = 10.0
    max_height = 100.0

    def find(self, image):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            (image > 0).astype(np.uint8), connectivity=8
        )
        if count <= 1:
            return None
        mask = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        weights = np.where(mask, image, 0).astype(np.float64)
        rows, cols = np.indices(image.shape)
        total = weights.sum()
        return TrackedObject(
            x=float((weights * cols).sum() / total),
            y=float((weights * rows).sum() / total),
            orientation=0.0,
            length=0.0,
            width=0.0,
            area=float(mask.sum()),
            height_mean=float(image[mask].mean()),
            mask=mask.astype(np.uint8),
            mask_origin=(0, 0),
        )


def _full_frame_centroids(results):
    row0 = np.flatnonzero(results.roi.any(axis=1))[0]
    col0 = np.flatnonzero(results.roi.any(axis=0))[0]
    return results.scalars["centroid_x_px"][:] + col0, results.scalars["centroid_y_px"][:] + row0


def test_a_custom_tracker_is_one_subclass_with_one_method(clip):
    extractor, truth = clip
    results = _extraction(extractor, truth, tracker=_HeightWeightedCentroid()).run(
        InMemoryResultsWriter(), progress=False
    )
    assert len(results) == 150
    assert results.valid.all()
    x, y = _full_frame_centroids(results)
    error = np.hypot(x - truth.centroid_px[:, 0], y - truth.centroid_px[:, 1])
    # The truth is the body's plain centroid; weighting by height (22 mm at the nose rising to
    # 38 mm at the rear) pulls it about a thirtieth of the body length towards the rear
    # (about 1 px here), so a tenth of the length is a generous bound for every frame.
    assert (error < truth.length_px / 10).all()
    recorded = results.metadata["strategies"]["tracker"]
    assert recorded == {"class": f"{__name__}._HeightWeightedCentroid", "params": {}}


class _CentreDisc(ROIStrategy):
    """A custom arena in one method: a disc around the image centre at the floor depth."""

    def find(self, background, camera=None):
        rows, cols = np.indices(background.shape)
        centre_row, centre_col = (background.shape[0] - 1) / 2, (background.shape[1] - 1) / 2
        disc = np.hypot(rows - centre_row, cols - centre_col) <= 160
        floor = float(np.median(background[disc & (background > 0)]))
        return ArenaROI(mask=disc, true_depth=floor, plane=None, depth_range=None)


def test_a_custom_roi_is_one_subclass_with_one_method(clip):
    extractor, truth = clip
    extraction = _extraction(extractor, truth, roi=_CentreDisc())
    results = extraction.run(InMemoryResultsWriter(), progress=False)
    rows, cols = np.indices((424, 512))
    disc = np.hypot(rows - 211.5, cols - 255.5) <= 160
    np.testing.assert_array_equal(extraction.arena.roi.mask, disc)
    np.testing.assert_array_equal(results.roi, disc)
    background = extraction.arena.background
    assert results.true_depth == float(np.median(background[disc & (background > 0)]))
    # The disc lies inside the synthetic arena and holds the animal's whole path.
    assert not (disc & ~truth.arena_mask).any()
    assert results.valid.all()
    x, y = _full_frame_centroids(results)
    assert np.median(np.hypot(x - truth.centroid_px[:, 0], y - truth.centroid_px[:, 1])) < 0.5


class _DuckTracker:
    min_height, max_height, sequential = 10.0, 100.0, False

    def find(self, image):
        return None

    def track(self, image, origin=(0, 0), raw=None):
        return None


class _DuckROI:
    def find(self, background, camera=None):
        return ArenaROI(np.ones(background.shape, bool), 680.0, None, None)


class _DuckBackground:
    def compute(self, extractor):
        return np.full(extractor.get_image_size(), 680.0, np.float32)

    def roi_image(self, background):
        return background


class _DuckCorrector:
    lookahead = 0

    def correct(self, context):
        return np.zeros(len(context.frames), bool)


@pytest.mark.parametrize(
    ("role", "strategy", "base"),
    [
        ("tracker", _DuckTracker(), "Tracker"),
        ("roi", _DuckROI(), "ROIStrategy"),
        ("background", _DuckBackground(), "BackgroundStrategy"),
        ("flip_corrector", _DuckCorrector(), "FlipCorrector"),
    ],
)
def test_strategies_that_do_not_subclass_the_contracts_are_refused(clip, role, strategy, base):
    extractor, _ = clip
    expected = rf"{role} must be a {base} \(subclass depthextractors\.extraction\.{base}\b"
    with pytest.raises(TypeError, match=expected):
        SessionExtraction(extractor, **{role: strategy})


def test_writers_that_do_not_subclass_the_contract_are_refused(clip):
    extractor, truth = clip
    extraction = _extraction(extractor, truth)
    with pytest.raises(TypeError, match=r"subclass depthextractors\.extraction\.ResultsWriter"):
        extraction.run([InMemoryResultsWriter(), object()], progress=False)
    with pytest.raises(TypeError, match="run\\(\\) takes a results writer"):
        extraction.run(None, progress=False)
    assert extraction.arena is None  # refused before any work


def _same_params(a, b):
    """Equal parameters, arrays by value and nested strategies by their own parameters."""
    first, second = a.get_params(), b.get_params()
    assert first.keys() == second.keys()
    for name, value in first.items():
        other = second[name]
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, other, err_msg=name)
            assert value.dtype == other.dtype, name
        elif isinstance(value, Strategy):
            assert type(value) is type(other), name
            _same_params(value, other)
        else:
            assert value == other, name
            assert type(value) is type(other), name


def _built_in_strategies():
    from depthextractors import EMTracker, PlaneFitBackground, PlaneROI
    from depthextractors.extraction import JobOptions, MotionFlipCorrector

    mask = np.zeros((30, 40), dtype=bool)
    mask[5:25, 8:36] = True
    return [
        PlaneROI(),
        PlaneROI(
            depth_range=(600, 760),
            weights=(10, 0.1, 1),
            dilate=(5, 7),
            erode=(3, 3),
            erode_iterations=2,
            shape="rect",
            gradient_filter=True,
            true_depth=671.5,
            iterations=50,
            min_region_fraction=0,
        ),
        ManualROI(mask),
        ManualROI(mask, true_depth=680.0),
        StridedMedianBackground(),
        StridedMedianBackground(frame_stride=10, median_filter_size=3, min_frames=4),
        PlaneFitBackground(),
        PlaneFitBackground(frame_stride=20, roi=PlaneROI(dilate=(1, 1), seed=3)),
        MomentsTracker(),
        MomentsTracker(min_height=5, max_height=250),
        EMTracker(),
        EMTracker(
            init_method="med",
            rho_mean=0.5,
            model_smoothing_clips=(-12, -8),
            cable_sigma=None,
            init_strel=(7, 5),
            use_cc=False,
        ),
        FrameFilters(),
        FrameFilters(spatial_size=5, temporal_size=3, tail_size=(7, 7), cable_iterations=2),
        HampelFilter(),
        HampelFilter(span=5, sig=2.5),
        MotionFlipCorrector(),
        MotionFlipCorrector(motion_weight=2, switch_cost=10, lookahead=12),
        JobOptions(),
        JobOptions(n_jobs=-1, chunk_size=77, progress=False),
    ]


@pytest.mark.parametrize("strategy", _built_in_strategies(), ids=repr)
def test_every_built_in_strategy_round_trips(strategy):
    _same_params(type(strategy)(**strategy.get_params()), strategy)
    description = strategy.describe()
    yaml.safe_load(yaml.safe_dump(description))  # plain YAML types only
    rebuilt = build_strategy(description)
    assert type(rebuilt) is type(strategy)
    _same_params(rebuilt, strategy)
    assert rebuilt.describe() == description
    if isinstance(strategy, ManualROI):
        np.testing.assert_array_equal(rebuilt.mask, strategy.mask)


def _all_outputs_equal(a, b, context):
    np.testing.assert_array_equal(a.timestamps, b.timestamps, err_msg=context)
    np.testing.assert_array_equal(a.frames[:], b.frames[:], err_msg=context)
    np.testing.assert_array_equal(a.frames_mask[:], b.frames_mask[:], err_msg=context)
    assert a.scalars.keys() == b.scalars.keys()
    for name in a.scalars:
        np.testing.assert_array_equal(
            a.scalars[name][:], b.scalars[name][:], err_msg=f"{context}: {name}"
        )
    for name in ("flips", "flip_confidence"):
        np.testing.assert_array_equal(
            getattr(a, name)[:], getattr(b, name)[:], err_msg=f"{context}: {name}"
        )
    np.testing.assert_array_equal(a.roi, b.roi)
    np.testing.assert_array_equal(a.background, b.background)
    # The job options are recorded too (chunk_size is a moseq2 key); the rest is the same.
    assert {**a.parameters, "chunk_size": None} == {**b.parameters, "chunk_size": None}
    assert a.metadata["strategies"] == b.metadata["strategies"]


@pytest.mark.parametrize("tracker", ["moments", "em"])
def test_chunk_size_and_thread_invariance_through_the_executor(clip, tracker):
    """Every output array is the same for any chunk size and thread count, also with a
    sequential tracker (state carried across chunks) and filters that read neighbours."""
    from depthextractors import EMTracker

    extractor, truth = clip

    def extract(chunk_size, n_jobs):
        extraction = _extraction(
            extractor,
            truth,
            tracker=EMTracker() if tracker == "em" else MomentsTracker(),
            filters=FrameFilters(temporal_size=3),
            centroid_hampel=HampelFilter(span=5, sig=3),
            angle_hampel=HampelFilter(span=5, sig=3),
        )
        writer = InMemoryResultsWriter()
        return extraction.run(writer, chunk_size=chunk_size, n_jobs=n_jobs, progress=False)

    reference = extract(1000, 1)
    assert len(reference) == 150
    assert reference.valid.mean() > 0.95
    if tracker == "em":
        assert reference.frames_mask[:].dtype == np.float32
    for chunk_size in (7, 50, 1000):
        for n_jobs in (1, 2):
            if (chunk_size, n_jobs) == (1000, 1):
                continue
            results = extract(chunk_size, n_jobs)
            assert results.metadata["job"] == {
                "n_jobs": n_jobs, "chunk_size": chunk_size, "workers": "threads",
            }  # fmt: skip
            _all_outputs_equal(reference, results, f"chunk_size={chunk_size}, n_jobs={n_jobs}")


def test_read_blocks_follow_the_frame_size_and_do_not_change_results(clip, monkeypatch):
    from depthextractors.extraction import executor

    # About 8 MB a block: 19 Kinect v2 frames, 4 of 1024 x 1024, never more than 64 or under 1.
    assert executor.read_block_frames((424, 512)) == 19
    assert executor.read_block_frames((1024, 1024)) == 4
    assert executor.read_block_frames((100, 100)) == executor.READ_BLOCK == 64
    assert executor.read_block_frames((4000, 4000)) == 1
    extractor, truth = clip

    def extract():
        extraction = _extraction(extractor, truth, filters=FrameFilters(temporal_size=3))
        return extraction.run(InMemoryResultsWriter(), chunk_size=60, n_jobs=2, progress=False)

    reference = extract()
    monkeypatch.setattr(executor, "READ_BLOCK_BYTES", 1)  # one frame a block
    _all_outputs_equal(reference, extract(), "one frame per read block")


class _ThreadCountROI(ROIStrategy):
    """The manual arena, recording OpenCV's thread count while the arena step runs."""

    def __init__(self, mask):
        self.inner = ManualROI(mask)
        self.opencv_threads = None

    def find(self, background, camera=None):
        import cv2

        self.opencv_threads = cv2.getNumThreads()
        return self.inner.find(background, camera)


def test_the_arena_step_runs_with_opencv_s_threads_limited_as_the_extraction_does(clip):
    """OpenCV's thread count is process-wide, and changing it while another thread is inside
    one of its parallel calls can kill the process: a batch's threads died of a floating point
    exception when one session's extraction set it while another's arena step labelled
    regions. The arena step runs under the same limits, and the count is restored after."""
    import cv2

    extractor, truth = clip
    before = cv2.getNumThreads()
    roi = _ThreadCountROI(truth.arena_mask)
    _extraction(extractor, truth, roi=roi).find_roi()
    assert roi.opencv_threads == 1
    assert cv2.getNumThreads() == before
