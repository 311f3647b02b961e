"""EMTracker: tethered animals, state across chunks, log-likelihood masks, moseq2 options.

The tether metrics are measured against the synthetic ground truth: the centroid error in
pixels, and the fraction of the written mask (``frames_mask`` above the mask threshold, on
pixels at least ``min_height`` tall) lying on the cable (``truth.tether_mask``, cropped and
rotated like the frames). Run with ``-s`` to see both trackers' numbers.
"""

from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from depthextractors import (
    EMTracker,
    ManualROI,
    MomentsTracker,
    NumpyDepthExtractor,
    SessionExtraction,
    StridedMedianBackground,
    open_depth_video,
)
from depthextractors.extraction import FrameFilters, HampelFilter, MotionFlipCorrector
from depthextractors.extraction.crop import crop_and_rotate
from depthextractors.extraction.em_gaussian import (
    inverse,
    log_likelihood_image,
    nearest_positive_definite,
    positive_definite,
)
from depthextractors.extraction.em_tracking import model_smoothing_weights, smooth_by_model
from depthextractors.io import H5ResultsWriter, InMemoryResultsWriter
from depthextractors.testing import Tether, synthesize_depth_video


def _session(extractor, truth, **kwargs):
    kwargs.setdefault("roi", ManualROI(truth.arena_mask))
    kwargs.setdefault("background", StridedMedianBackground(frame_stride=10))
    return SessionExtraction(extractor, **kwargs)


def _tethered(seed, frames=300, **tether):
    video, truth = synthesize_depth_video(frames, seed=seed, tether=Tether(**tether))
    return NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0), truth


def _tether_metrics(results, truth, mask_threshold=None):
    """(median, p95) centroid error in px and mean fraction of the mask on the cable."""
    roi = results.roi
    row0, col0 = np.flatnonzero(roi.any(axis=1))[0], np.flatnonzero(roi.any(axis=0))[0]
    x = results.scalars["centroid_x_px"][:] + col0
    y = results.scalars["centroid_y_px"][:] + row0
    angle = results.scalars["angle"][:]
    error = np.hypot(x - truth.centroid_px[:, 0], y - truth.centroid_px[:, 1])
    fractions = []
    for i in np.flatnonzero(results.valid):
        mask = results.frames_mask[i]
        if mask_threshold is not None:
            mask = (mask > mask_threshold) & (results.frames[i] >= 10)
        mask = mask.astype(bool)
        cable = crop_and_rotate(
            truth.tether_mask(i).astype(np.uint8), x[i], y[i], angle[i], (80, 80),
            interpolation=cv2.INTER_NEAREST,
        ).astype(bool)  # fmt: skip
        fractions.append((mask & cable).sum() / max(mask.sum(), 1))
    valid = results.valid
    return np.median(error[valid]), np.percentile(error[valid], 95), float(np.mean(fractions))


@pytest.mark.parametrize(("seed", "width_mm"), [(0, 5.0), (1, 5.0), (2, 12.0)])
def test_tethered_animal_em_against_moments(seed, width_mm):
    extractor, truth = _tethered(seed, width_mm=width_mm)
    em = _session(extractor, truth, tracker=EMTracker()).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    moments = _session(extractor, truth).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    em_median, em_p95, em_cable = _tether_metrics(em, truth, mask_threshold=-16)
    mo_median, mo_p95, mo_cable = _tether_metrics(moments, truth)
    # The figures the docs quote (shown with pytest -s).
    print(  # noqa: T201
        f"\ntether {width_mm:g} mm, seed {seed}: EMTracker centroid error median "
        f"{em_median:.2f} px (p95 {em_p95:.2f}), {100 * em_cable:.1f}% of the mask on the "
        f"cable; MomentsTracker {mo_median:.2f} px (p95 {mo_p95:.2f}), {100 * mo_cable:.1f}%"
    )
    assert em.valid.mean() > 0.99
    assert em_median <= 1.0
    assert em_cable < 0.05
    # The moments tracker keeps the cable where it crosses the back (and, when thick, beyond).
    assert mo_cable > 2 * em_cable
    assert em_p95 <= mo_p95 + 0.05


def test_without_the_tail_filter_the_cable_pulls_the_moments_tracker_not_em():
    # The default tail filter (a 9x9 opening) erases a thin cable outside the body for both
    # trackers; without it the cable joins the moments tracker's object.
    extractor, truth = _tethered(1)
    filters = FrameFilters(tail_iterations=0)
    em = _session(extractor, truth, tracker=EMTracker(), filters=filters).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    moments = _session(extractor, truth, filters=filters).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    em_median, _, em_cable = _tether_metrics(em, truth, mask_threshold=-16)
    mo_median, _, mo_cable = _tether_metrics(moments, truth)
    print(  # noqa: T201
        f"\nno tail filter: EMTracker {em_median:.2f} px, {100 * em_cable:.1f}% on the cable; "
        f"MomentsTracker {mo_median:.2f} px, {100 * mo_cable:.1f}%"
    )
    assert mo_median > 2.0
    assert mo_cable > 0.1
    # (The tail, no longer filtered, now shifts both centroids a little.)
    assert em_median < 0.3 * mo_median
    assert em_cable < 0.05


def test_em_state_carried_across_chunks():
    extractor, truth = _tethered(3, frames=160)
    options = {
        "tracker": EMTracker(),
        "filters": FrameFilters(temporal_size=3),
        "centroid_hampel": HampelFilter(span=5),
        "angle_hampel": HampelFilter(span=5),
    }
    whole = _session(extractor, truth, **options).run(
        InMemoryResultsWriter(), chunk_size=1000, progress=False
    )
    pieces = _session(extractor, truth, chunk_overlap=2, **options).run(
        InMemoryResultsWriter(), chunk_size=23, progress=False
    )
    np.testing.assert_array_equal(whole.frames, pieces.frames)
    np.testing.assert_array_equal(whole.frames_mask, pieces.frames_mask)
    for name in whole.scalars:
        np.testing.assert_array_equal(whole.scalars[name], pieces.scalars[name], err_msg=name)


def test_log_likelihood_masks_written_as_float32(tmp_path):
    extractor, truth = _tethered(4, frames=120)
    results = _session(
        extractor, truth, tracker=EMTracker(ll_clip=-80), flip_corrector=MotionFlipCorrector()
    ).run(H5ResultsWriter(tmp_path), chunk_size=50, progress=False)
    with h5py.File(tmp_path / "results_00.h5", "r") as handle:
        masks = handle["frames_mask"][()]
        assert masks.dtype == np.float32
        assert "Log-likelihood" in handle["frames_mask"].attrs["description"]
        assert handle["metadata/extraction/parameters/use_tracking_model"][()]
        assert handle["metadata/extraction/parameters/tracking_model_ll_clip"][()] == -80
        assert handle["metadata/extraction/parameters/tracking_model_init"][()] == b"raw"
    frames = results.frames[:]
    assert masks.min() >= -80
    assert (masks[frames < 10] == -80).all()
    # Peaks on the animal, and the mask above the threshold covers most of what stands above
    # the floor in the crops (not the tail and the cable).
    valid = results.valid
    assert (masks[valid].max(axis=(1, 2)) > -16).all()
    inside = (masks > -16) & (frames >= 10)
    assert np.median(inside[valid].sum(axis=(1, 2)) / (frames[valid] >= 10).sum(axis=(1, 2))) > 0.7
    angle = results.scalars["angle"][:]
    assert (np.cos(angle - truth.heading)[valid] > 0).mean() >= 0.99


def test_vectorised_log_likelihood_equals_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + np.diag([20.0, 10.0, 30.0])
    mean = np.array([12.0, 7.0, 25.0])
    heights = rng.uniform(0, 60, size=(9, 14))
    grid_x, grid_y = np.arange(14) + 3.0, np.arange(9) + 2.0
    ours = log_likelihood_image(grid_x, grid_y, heights, mean, cov)
    xx, yy = np.meshgrid(grid_x, grid_y)
    points = np.column_stack([xx.ravel(), yy.ravel(), heights.ravel()])
    reference = multivariate_normal.logpdf(points, mean, cov).reshape(heights.shape)
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-10)


def test_closed_form_3x3_algebra_equals_numpy():
    """The tracker's 3x3 inverse, definiteness test and covariance repair (Python floats, for
    speed) agree with numpy.linalg."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = rng.normal(size=(3, 3)) * rng.uniform(0.1, 30.0, size=3)
        spd = a @ a.T + np.diag(rng.uniform(0.0, 50.0, size=3))
        spd = 0.5 * (spd + spd.T)
        adjugate, det = inverse(spd.tolist())
        np.testing.assert_allclose(np.array(adjugate) / det, np.linalg.inv(spd), rtol=1e-8)
        assert det == pytest.approx(np.linalg.det(spd), rel=1e-9)
        lowest = np.linalg.eigvalsh(spd).min()
        for shift in (0.5 * lowest, 2.0 * lowest):
            assert positive_definite(spd.tolist(), shift) == (lowest > shift)
        indefinite = spd - (lowest + 1.0) * np.eye(3)
        values, vectors = np.linalg.eigh(indefinite)
        repaired = np.array(nearest_positive_definite(indefinite.tolist()))
        expected = (vectors * np.maximum(values, 1e-3)) @ vectors.T
        np.testing.assert_allclose(repaired, expected, rtol=1e-10, atol=1e-10)
        assert np.linalg.eigvalsh(repaired).min() >= 1e-3 - 1e-9
        np.testing.assert_array_equal(np.array(nearest_positive_definite(spd.tolist())), spd)
    assert inverse([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]]) is None


@pytest.mark.parametrize("init_method", ["raw", "min", "med"])
def test_init_methods_and_cable_filter(init_method):
    extractor, truth = _tethered(5, frames=90)
    filters = FrameFilters(cable_iterations=1)
    results = _session(
        extractor, truth, tracker=EMTracker(init_method=init_method), filters=filters
    ).run(InMemoryResultsWriter(), chunk_size=40, progress=False)
    assert results.parameters["cable_filter_iters"] == 1
    assert results.parameters["tracking_model_init"] == init_method
    median, _, _ = _tether_metrics(results, truth, mask_threshold=-16)
    assert median <= 1.0
    assert results.valid.mean() > 0.95


def test_em_recovers_after_a_hand_covers_the_animal():
    video, truth = synthesize_depth_video(200, seed=6, tether=Tether(), hand_frames=20)
    extractor = NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0)
    results = _session(extractor, truth, tracker=EMTracker()).run(
        InMemoryResultsWriter(), chunk_size=64, progress=False
    )
    last_hand = np.flatnonzero(truth.hand_present)[-1]
    after = np.arange(last_hand + 5, 200)
    median, _, _ = _tether_metrics(results, truth, mask_threshold=-16)
    assert median <= 1.0
    roi = results.roi
    row0, col0 = np.flatnonzero(roi.any(axis=1))[0], np.flatnonzero(roi.any(axis=0))[0]
    x = results.scalars["centroid_x_px"][after] + col0
    y = results.scalars["centroid_y_px"][after] + row0
    error = np.hypot(x - truth.centroid_px[after, 0], y - truth.centroid_px[after, 1])
    assert np.median(error) <= 1.0


def test_rho_smoothing_slows_the_model():
    extractor, truth = _tethered(7, frames=60)
    video = extractor.get_video()
    background = np.median(video[::5], axis=0).astype(np.float32)
    filters = FrameFilters()
    heights = []
    for frame in video:
        height = np.floor(background - frame)
        height[(height < 10) | (height > 100) | (frame == 0) | ~truth.arena_mask] = 0
        heights.append(filters.apply_spatial(height.astype(np.uint8)))
    fast, slow = EMTracker(), EMTracker(rho_mean=0.9)
    fast_path, slow_path = [], []
    for image in heights:
        fast.track(image)
        slow.track(image)
        fast_path.append(fast.state[0][:2])
        slow_path.append(slow.state[0][:2])
    fast_path, slow_path = np.array(fast_path), np.array(slow_path)
    # Exponential smoothing: the smoothed mean lags behind a moving animal and jitters less.
    lag = np.linalg.norm(slow_path - fast_path, axis=1)
    assert np.median(lag[10:]) > 2.0
    jitter_fast = np.median(np.linalg.norm(np.diff(fast_path, 2, axis=0), axis=1))
    jitter_slow = np.median(np.linalg.norm(np.diff(slow_path, 2, axis=0), axis=1))
    assert jitter_slow < 0.5 * jitter_fast
    # The state can be saved and restored.
    saved = fast.state
    fast.reset()
    assert fast.state is None
    fast.state = saved
    np.testing.assert_array_equal(fast.state[0], saved[0])


def test_model_smoother():
    weights = model_smoothing_weights(np.array([-50.0, -400.0, -50.0, np.nan]), (-300, -150))
    np.testing.assert_array_equal(weights, [1.0, 0.0, 1.0, 0.0])
    values = np.array([1.0, 10.0, 3.0, 4.0])
    smoothed = smooth_by_model(values, np.array([1.0, 0.0, 1.0, 1.0]))
    # Forward pass: frame 1 takes 1.0 from frame 0; backward pass: it takes 3.0 from frame 2.
    np.testing.assert_allclose(smoothed, [1.0, 3.0, 3.0, 4.0])
    assert smooth_by_model(values, np.ones(4)).tolist() == values.tolist()
    # Switched on in the session: centroids of poorly explained frames follow neighbours.
    extractor, truth = _tethered(8, frames=60)
    plain = _session(extractor, truth, tracker=EMTracker()).run(
        InMemoryResultsWriter(), progress=False
    )
    smoothed = _session(
        extractor, truth, tracker=EMTracker(model_smoothing_clips=(-12.0, -8.0))
    ).run(InMemoryResultsWriter(), progress=False)
    assert smoothed.parameters["model_smoothing_clips"] == [-12.0, -8.0]
    assert not np.array_equal(plain.scalars["centroid_x_px"], smoothed.scalars["centroid_x_px"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"init_method": "mean"},
        {"rho_mean": 1.0},
        {"cable_sigma": 0},
        {"max_iterations": 0},
        {"min_height": 50, "max_height": 40},
    ],
)
def test_em_tracker_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="must"):
        EMTracker(**kwargs)


def test_moments_tracker_keeps_its_threaded_path():
    assert not getattr(MomentsTracker(), "sequential", False)
    assert EMTracker.sequential


def test_em_heading_is_right_where_the_animal_stops(tmp_path):
    # Drawn session 98 (a juvenile mouse with a cable): the animal stops at frame 61, where the
    # flip corrector goes by the body's shape. Read on the model's own mask, which left out an
    # end of the body, the shape turned EMTracker's heading round for every later frame
    # (right in 50% of these 120 frames; MomentsTracker's in all).
    from depthextractors.config import ExtractionConfig
    from depthextractors.extraction.animal_size import size_changes
    from depthextractors.testing import draw_session

    session = draw_session(tmp_path / "drawn", 98, 120)
    video = open_depth_video(session.directory)
    arena = SessionExtraction(video).find_roi()
    changes = size_changes(ExtractionConfig(), arena.animal)
    truth = session.truth
    for use_tracking_model in (False, True):
        config = ExtractionConfig(**changes, use_tracking_model=use_tracking_model)
        extraction = config.build_extraction(video)
        extraction.arena = arena
        results = extraction.run(InMemoryResultsWriter(), progress=False, n_jobs=1)
        angle = np.asarray(results.scalars["angle"][:], dtype=np.float64)
        right = (np.cos(angle - truth.heading) > 0)[truth.visible & results.valid]
        assert right.mean() >= 0.99, (use_tracking_model, right.mean())
