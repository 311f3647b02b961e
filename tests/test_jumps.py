"""Frames whose tracked object jumped away from where their neighbours put the animal are
tracked again near that place (issue 15): the stateless tracker's largest object is not the
animal where spurious depth beside a reflective wall is as large as a small animal."""

from __future__ import annotations

import numpy as np
import pytest

from depthextractors import EMTracker, MomentsTracker, SessionExtraction, open_depth_video
from depthextractors.config import ExtractionConfig
from depthextractors.extraction.animal_size import size_changes
from depthextractors.extraction.heights import ArenaHeights
from depthextractors.extraction.jumps import RetrackJumpsStage, far_from_neighbours, retracking
from depthextractors.io import ExtractionResults, H5ResultsWriter, InMemoryResultsWriter
from depthextractors.io.report import render_html
from depthextractors.io.results_h5 import read_results
from reflective_sessions import small_mouse_by_reflective_walls


def _walk(rng, count, step):
    """A smooth path: a random walk of ``step`` px a frame with a slowly turning heading."""
    heading = np.cumsum(rng.normal(0.0, 0.2, count))
    x = 200.0 + np.cumsum(step * np.cos(heading))
    y = 200.0 + np.cumsum(step * np.sin(heading))
    return x, y


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_far_frames_among_a_fifth_that_jumped_are_found_and_their_place_told(seed):
    rng = np.random.default_rng(seed)
    step = 2.0
    true_x, true_y = _walk(rng, 400, step)
    x, y = true_x.copy(), true_y.copy()
    jumped = np.flatnonzero(rng.random(x.size) < 0.2)
    # Each to a place of its own, anywhere in a 400-pixel arena.
    x[jumped] = rng.uniform(0, 400, jumped.size)
    y[jumped] = rng.uniform(0, 400, jumped.size)
    jump_px = 15.0
    far, expected_x, expected_y = far_from_neighbours(x, y, jump_px)
    assert set(far.tolist()) <= set(jumped.tolist())
    clearly = jumped[np.hypot(x - true_x, y - true_y)[jumped] > 2 * jump_px]
    assert np.isin(clearly, far).mean() >= 0.9
    # The neighbours' place lags or leads the frame by at most the path of a few frames.
    assert np.hypot(expected_x - true_x[far], expected_y - true_y[far]).max() < 3 * step


def test_a_running_animal_is_not_far_from_its_neighbours():
    # 0.3 of a 10-pixel animal a frame (faster than a mouse's sprint), tracked with 1 px of
    # noise: the neighbours' place lags it by about a length at most.
    rng = np.random.default_rng(7)
    x, y = _walk(rng, 600, 3.0)
    x += rng.normal(0.0, 1.0, x.size)
    y += rng.normal(0.0, 1.0, y.size)
    far, _, _ = far_from_neighbours(x, y, 1.5 * 10.0)
    assert far.size == 0


def test_a_frame_is_judged_only_where_half_its_neighbours_agree():
    x = np.full(7, 50.0)
    y = np.full(7, 50.0)
    x[3] = 200.0
    far, expected_x, _ = far_from_neighbours(x, y, 10.0)
    assert far.tolist() == [3]
    assert expected_x.tolist() == [50.0]
    # Three of the six neighbours unknown and one elsewhere: two agree, too few to judge.
    x[[0, 1, 5]] = np.nan
    x[6] = 120.0
    assert far_from_neighbours(x, y, 10.0)[0].size == 0


def test_the_stage_wants_a_positive_distance_and_the_switch_a_boolean(reflective_session):
    with pytest.raises(ValueError, match="jump_px must be a positive distance"):
        RetrackJumpsStage([], 0.0)
    video = open_depth_video(reflective_session.directory)
    with pytest.raises(TypeError, match="retrack_jumps must be True or False, got 'no'"):
        SessionExtraction(video, retrack_jumps="no")


@pytest.fixture(scope="module")
def reflective_session(tmp_path_factory):
    return small_mouse_by_reflective_walls(tmp_path_factory.mktemp("jumps") / "session", 31, 150)


def _extract(session, retrack_jumps=True, writer=None, **job):
    video = open_depth_video(session.directory)
    arena = SessionExtraction(video).find_roi()
    sized = size_changes(ExtractionConfig(), arena.animal)
    extraction = ExtractionConfig(**sized, retrack_jumps=retrack_jumps).build_extraction(video)
    extraction.arena = arena
    job = {"n_jobs": 1, "workers": "threads", **job}
    writer = InMemoryResultsWriter() if writer is None else writer
    return arena, extraction.run(writer, progress=False, **job)


def _errors(session, arena, results):
    row0, _, col0, _ = arena.roi.bbox
    truth = session.truth
    x = np.asarray(results.scalars["centroid_x_px"]) + col0
    y = np.asarray(results.scalars["centroid_y_px"]) + row0
    error = np.hypot(x - truth.centroid_px[:, 0], y - truth.centroid_px[:, 1])
    return error[truth.visible]


def test_spurious_depth_as_large_as_the_animal_no_longer_takes_its_place(reflective_session):
    arena, before = _extract(reflective_session, retrack_jumps=False)
    assert before.parameters["retrack_jumps"] is False
    length = arena.animal.length_px
    # The session does what it is meant to: without tracking again (moseq2-extract's choice)
    # the tracker often takes the spurious depth, far from the mouse.
    assert np.count_nonzero(_errors(reflective_session, arena, before) > length) >= 10
    arena, after = _extract(reflective_session)
    assert after.parameters["retrack_jumps"] is True
    error = _errors(reflective_session, arena, after)
    assert np.all(error <= length)
    assert np.median(error) <= 0.3
    assert np.percentile(error, 95) <= 1.0


def test_the_frames_tracked_again_are_recorded_and_reported(reflective_session, tmp_path):
    arena, before = _extract(reflective_session, retrack_jumps=False)
    assert before.tracked_again is None
    _, after = _extract(reflective_session)
    again = np.asarray(after.tracked_again)
    assert again.dtype == bool
    assert again.shape == (len(after),)
    # Every frame the largest object took far from the mouse was tracked again, and only
    # frames tracked again moved (the other frames' positions are the largest object's).
    far = np.zeros(len(after), dtype=bool)
    far[reflective_session.truth.visible] = (
        _errors(reflective_session, arena, before) > arena.animal.length_px
    )
    assert np.count_nonzero(far) >= 10
    assert np.all(again[far])
    moved = (before.scalars["centroid_x_px"] != after.scalars["centroid_x_px"]) | (
        before.scalars["centroid_y_px"] != after.scalars["centroid_y_px"]
    )
    assert np.array_equal(moved, again)
    # Kept in results_00.h5 and NWB, and said in the report with the first of them.
    _, stored = _extract(reflective_session, writer=H5ResultsWriter(tmp_path / "h5"))
    np.testing.assert_array_equal(read_results(tmp_path / "h5").tracked_again[:], again)
    subject = {"species": "Mus musculus", "age": "P12W", "sex": "M"}
    path = stored.to_nwb(tmp_path / "again.nwb", subject=subject)
    np.testing.assert_array_equal(ExtractionResults.from_nwb(path).tracked_again, again)
    first = ", ".join(str(k) for k in np.flatnonzero(again)[:5])
    page = render_html(after, [])
    assert f"{np.count_nonzero(again):,} frames (" in page
    assert f"first at frames {first}, counted from 0" in page
    assert "Tracked again" not in render_html(before, [])


def test_tracking_again_does_not_depend_on_chunks_or_workers(reflective_session):
    _, whole = _extract(reflective_session)
    _, chunked = _extract(reflective_session, chunk_size=17)
    _, processes = _extract(reflective_session, n_jobs=2, workers="processes")
    for other in (chunked, processes):
        for name in ("centroid_x_px", "centroid_y_px", "angle"):
            np.testing.assert_array_equal(whole.scalars[name], other.scalars[name])
        np.testing.assert_array_equal(whole.frames, other.frames)
        np.testing.assert_array_equal(whole.tracked_again, other.tracked_again)


def test_a_sequential_tracker_is_not_tracked_again(reflective_session):
    video = open_depth_video(reflective_session.directory)
    arena = SessionExtraction(video).find_roi()
    for tracker, expected in ((EMTracker(), 0), (MomentsTracker(), 1)):
        extraction = SessionExtraction(video, tracker=tracker)
        extraction.arena = arena
        converter = ArenaHeights(
            arena.background, arena.roi.mask, tracker.min_height, tracker.max_height
        )
        stages = retracking(extraction.frame_stages(converter, None), arena.animal.length_px)
        assert sum(isinstance(stage, RetrackJumpsStage) for stage in stages) == expected
