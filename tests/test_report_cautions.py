"""The results say where their frame times come from, and the report says when accuracy is at
risk: an implausible arena, frame times made up from the frame rate, an animal longer than the
crop, a tether, a flip corrector unsure of the heading."""

import numpy as np
import yaml

from depthextractors import read_results
from depthextractors.config import ExtractionConfig
from depthextractors.io.report import cautions, render_html
from depthextractors.testing import generate_synthetic_session
from depthextractors.workflow import extract_session

QUICK = {"write_movie": False, "write_report": False}


def extract(session, **settings):
    extract_session(session, session / "proc", ExtractionConfig(**QUICK, **settings))
    return read_results(session / "proc")


def test_frame_times_source_is_recorded_and_made_up_times_are_a_caution(tmp_path):
    session = tmp_path / "timed"
    generate_synthetic_session(session, 60, seed=4)
    results = extract(session)
    assert results.metadata["timestamps_source"] == "depth_ts.txt"
    status = yaml.safe_load((session / "proc" / "results_00.yaml").read_text())
    assert status["timestamps_source"] == "depth_ts.txt"
    assert cautions(results) == []
    assert "depth_ts.txt" in render_html(results, [])

    untimed = tmp_path / "untimed"
    generate_synthetic_session(untimed, 60, seed=4)
    (untimed / "depth_ts.txt").unlink()
    results = extract(untimed)
    assert results.metadata["timestamps_source"] == "made up from the frame rate"
    found = cautions(results)
    assert len(found) == 1
    assert "made up from the frame rate" in found[0]
    assert found[0] in render_html(results, []).replace("&#x27;", "'")


def test_an_animal_longer_than_the_crop_is_a_caution(tmp_path):
    session = tmp_path / "session"
    generate_synthetic_session(session, 60, seed=5)
    assert cautions(extract(session)) == []  # 80-pixel crops hold a mouse
    tight = extract(session, crop_size=(24, 24))
    found = cautions(tight)
    assert len(found) == 1
    assert "longer than the 24-pixel crop" in found[0]
    assert "crop_size" in found[0]


def test_an_implausible_arena_is_a_caution(tmp_path):
    session = tmp_path / "session"
    generate_synthetic_session(session, 60, seed=6)
    results = extract(session)
    results.metadata["roi_problems"] = ["it touches the frame border (top)"]
    found = cautions(results)
    assert len(found) == 1
    assert found[0].startswith("The arena looks implausible: it touches the frame border (top)")


def test_a_tether_and_an_unsure_heading_are_cautions(tmp_path):
    session = tmp_path / "session"
    generate_synthetic_session(session, 60, seed=6)
    results = extract(session)
    assert results.metadata["animal_size"]["tether_share"] < 0.15
    assert cautions(results) == []
    results.metadata["animal_size"]["tether_share"] = 0.5
    found = cautions(results)
    assert len(found) == 1
    assert "tether" in found[0]
    assert "animal: auto" in found[0]
    results.metadata["animal_size"]["tether_share"] = 0.0
    confidence = np.array(results.flip_confidence[:], dtype=np.float32)
    confidence[: len(confidence) // 4] = 0.6
    results.flip_confidence = confidence
    found = cautions(results)
    assert len(found) == 1
    assert "unsure of the heading" in found[0]
