"""compare_results: two extractions of one recording, compared honestly."""

from __future__ import annotations

import numpy as np
import pytest

from depthextractors import H5ResultsWriter, SessionExtraction, open_depth_video, read_results
from depthextractors.extraction import MomentsTracker, PlaneROI
from depthextractors.io.compare import compare_results
from depthextractors.testing import generate_synthetic_session


@pytest.fixture(scope="module")
def two_extractions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    session = generate_synthetic_session(folder / "session", 200, dropped_frames=1, seed=8)
    video = open_depth_video(session.directory)
    SessionExtraction(video).run(H5ResultsWriter(folder / "a"), progress=False)
    SessionExtraction(
        video, roi=PlaneROI(dilate_iterations=3), tracker=MomentsTracker(min_height=14),
        flip_corrector=None,
    ).run(H5ResultsWriter(folder / "b"), progress=False)  # fmt: skip
    return read_results(folder / "a"), read_results(folder / "b")


def test_identical_results_compare_as_identical(two_extractions):
    a, _ = two_extractions
    comparison = compare_results(a, a)
    assert comparison.arena_iou == 1.0
    assert comparison.frame_correlation == pytest.approx(1.0)
    assert comparison.heading_agreement == 1.0
    assert comparison.parameters == {}
    for difference in comparison.scalars:
        assert difference.median_abs_difference in (0.0,) or np.isnan(
            difference.median_abs_difference
        ), difference


def test_differences_are_measured_where_they_are(two_extractions):
    a, b = two_extractions
    comparison = compare_results(a, b)
    # A larger dilation grows the arena: the IoU is the ratio of the two areas.
    expected = np.count_nonzero(a.roi & b.roi) / np.count_nonzero(a.roi | b.roi)
    assert comparison.arena_iou == pytest.approx(expected)
    assert comparison.arena_iou < 1.0
    # A higher min_height makes the animal smaller.
    assert comparison.scalar("area_px").relative_median_difference < -0.02
    assert {"dilate_iterations", "min_height", "flip_corrector"} <= set(comparison.parameters)
    assert comparison.parameters["min_height"] == (10.0, 14.0)
    assert comparison.dropped_frames == (1, 1)
    # Without a flip corrector B's heading is the body axis's own end: B's crops are turned
    # round where it disagrees with A, and then the crops correlate.
    assert comparison.frame_correlation > 0.9
    text = comparison.format_table()
    for expected_text in ("arena IoU", "area_px", "min_height: 10.0 / 14.0"):
        assert expected_text in text


def test_a_turned_heading_is_detected_and_turned_back(two_extractions, tmp_path):
    from depthextractors.extraction.crop import turn_round
    from depthextractors.io import ExtractionResults

    a, _ = two_extractions
    # Every frame turned round about its centroid's pixel, as a flip corrector turns them.
    turned = ExtractionResults(
        frames=turn_round(np.asarray(a.frames)),
        frames_mask=turn_round(np.asarray(a.frames_mask)),
        scalars={name: np.asarray(a.scalars[name]) + (np.pi if name == "angle" else 0)
                 for name in a.scalars},
        timestamps=a.timestamps,
        metadata=a.metadata,
    )  # fmt: skip
    comparison = compare_results(a, turned)
    assert comparison.heading_agreement == 0.0
    # Turned back, the crops are the same but for the row and column a turn leaves empty.
    assert comparison.frame_correlation > 0.99
    figure = comparison.figure(tmp_path / "compare.png", a, turned)
    assert figure.stat().st_size > 10_000


def test_different_recordings_or_ranges_are_refused(two_extractions):
    from depthextractors.io import ExtractionResults

    a, _ = two_extractions
    shifted = ExtractionResults(
        a.frames, a.frames_mask, a.scalars, a.timestamps,
        {**a.metadata, "first_frame_idx": 5},
    )  # fmt: skip
    with pytest.raises(ValueError, match="different frames"):
        compare_results(a, shifted)
    other = ExtractionResults(
        a.frames, a.frames_mask, a.scalars, a.timestamps,
        {**a.metadata, "roi": np.ones((10, 10), bool)},
    )  # fmt: skip
    with pytest.raises(ValueError, match="not extractions of one recording"):
        compare_results(a, other)


def test_compare_command_prints_the_table_and_draws_the_figure(two_extractions, tmp_path):
    from click.testing import CliRunner

    from depthextractors.cli import main

    a, b = two_extractions
    figure = tmp_path / "compare.png"
    result = CliRunner().invoke(
        main, ["compare", str(a.path.parent), str(b.path), "--figure", str(figure)]
    )
    assert result.exit_code == 0, result.output
    assert "arena IoU" in result.output
    assert "min_height: 10.0 / 14.0" in result.output
    assert figure.stat().st_size > 10_000
    missing = CliRunner().invoke(main, ["compare", str(tmp_path / "nope"), str(b.path)])
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
