"""The results say where their frame times come from, and the report says when accuracy is at
risk: an implausible arena, frame times made up from the frame rate, an animal longer than the
crop, a tether, a flip corrector unsure of the heading, a tracked position that jumps."""

import shutil

import numpy as np
import yaml
from click.testing import CliRunner

from depthextractors import read_results
from depthextractors.cli import main
from depthextractors.config import ExtractionConfig
from depthextractors.io.report import cautions, render_html
from depthextractors.testing import generate_synthetic_session
from depthextractors.workflow import extract_session
from reflective_sessions import small_mouse_by_reflective_walls

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
    # With the tether filter on, the report says it was, not to turn it on.
    results.metadata["parameters"]["tether_filter_size"] = 13
    found = cautions(results)
    assert "animal: auto" not in found[0]
    assert "tether_filter_size: 13" in found[0]
    results.metadata["parameters"]["tether_filter_size"] = 0
    results.metadata["animal_size"]["tether_share"] = 0.0
    confidence = np.array(results.flip_confidence[:], dtype=np.float32)
    confidence[: len(confidence) // 4] = 0.6
    results.flip_confidence = confidence
    found = cautions(results)
    assert len(found) == 1
    assert "unsure of the heading" in found[0]


def test_a_position_jumping_further_than_the_animal_is_long_is_a_caution(tmp_path):
    session = tmp_path / "session"
    generate_synthetic_session(session, 60, seed=6)
    results = extract(session)
    assert cautions(results) == []
    results.scalars = {name: np.array(results.scalars[name][:]) for name in results.scalars}
    length = float(np.median(results.scalars["length_px"]))
    moved = results.scalars["centroid_x_px"].astype(np.float64)
    # Two spells on something else: four jumps in 59 pairs of frames.
    moved[20:23] += 3 * length
    moved[40:42] -= 3 * length
    results.scalars["centroid_x_px"] = moved
    found = cautions(results)
    assert len(found) == 1
    assert "jumps by more than its median length" in found[0]
    assert "6.8% of the pairs" in found[0]
    assert "first at frames 20, 23, 40, 42 of the results" in found[0]
    assert "use_tracking_model: true" in found[0]
    # One spell (two jumps) is a glitch, not a caution.
    results.scalars["centroid_x_px"][40:42] += 3 * length
    assert cautions(results) == []
    results.scalars["centroid_x_px"][40:42] -= 3 * length
    # Frames 0.2 s apart: the animal had time to move that far.
    timestamps = results.timestamps
    results.timestamps = np.arange(len(results)) * 0.2
    assert cautions(results) == []
    # A jump needs the animal in both frames.
    results.timestamps = timestamps
    assert len(cautions(results)) == 1
    results.scalars["valid"][20:23] = False
    results.scalars["valid"][40:42] = False
    assert cautions(results) == []


def test_reflections_larger_than_a_small_animal_are_a_caution_tracking_again_avoids(tmp_path):
    # Beside the reflective walls the largest object is often a square of spurious depth.
    # (The caution's 2% was chosen on sessions drawn from the generator, seeds 2000-2199;
    # tracking again was developed on drawn seeds 194 and 3011, not this session.)
    session = small_mouse_by_reflective_walls(tmp_path / "drawn", 47, 120)
    truth = session.truth
    runs = {
        "moseq2's choice": ["--retrack-jumps", "false"],
        "the defaults": [],
        "EM": ["--use-tracking-model", "true"],
    }
    for name, options in runs.items():
        out = tmp_path / name.replace(" ", "_").replace("'", "")
        command = ["extract", str(session.depth_path), "--output-dir", str(out), "--no-movie"]
        command += ["--animal", "auto", *options]
        terminal = CliRunner().invoke(main, command)
        assert terminal.exit_code == 0, terminal.output
        results = read_results(out)
        rows, cols = np.nonzero(results.metadata["roi"])
        x0, y0 = cols.min(), rows.min()
        error = np.hypot(
            results.scalars["centroid_x_px"][:] + x0 - truth.centroid_px[:, 0],
            results.scalars["centroid_y_px"][:] + y0 - truth.centroid_px[:, 1],
        )[truth.visible & results.valid]
        jumps = [text for text in cautions(results) if "jumps" in text]
        if name == "moseq2's choice":
            assert np.mean(error > 5) > 0.1
            assert len(jumps) == 1
            # Said in the report, the log and on the terminal (in the command line's words).
            report = (out / "report.html").read_text().replace("&#x27;", "'")
            assert jumps[0] in report
            assert f"accuracy at risk: {jumps[0]}" in (out / "extract.log").read_text()
            assert "extracting again with --retrack-jumps true," in terminal.output
        else:
            # EMTracker's first frame starts from the largest object; it then follows the
            # animal. The default tracker's frames far from their neighbours' are tracked
            # again near them.
            assert np.sum(error > 5) <= 1
            assert jumps == []
            assert "accuracy at risk" not in terminal.output


def test_an_animal_resting_in_the_background_is_a_caution_a_plane_background_avoids(tmp_path):
    moving = tmp_path / "moving"
    session = generate_synthetic_session(moving, 60, seed=7)
    columns, rows = session.metadata["DepthResolution"]
    frames = np.fromfile(moving / "depth.dat", dtype="<u2").reshape(-1, rows, columns)
    # The animal rests where the first frame shows it for 170 frames, then walks away: the
    # floor under it shows in too few frames for the background to leave it out.
    order = np.r_[np.zeros(170, dtype=int), np.arange(30)]
    resting = tmp_path / "resting"
    resting.mkdir()
    frames[order].tofile(resting / "depth.dat")
    shutil.copy(moving / "metadata.json", resting)
    times_ms = 1e6 + np.arange(order.size) * 1000 / 30
    np.savetxt(resting / "depth_ts.txt", np.column_stack([times_ms, 0 * order]), fmt="%.4f %d")
    truth = session.truth.centroid_px[order]
    for plane in (False, True):
        out = tmp_path / f"plane_{plane}"
        extract_session(resting, out, ExtractionConfig(**QUICK, use_plane_bground=plane))
        results = read_results(out)
        found = [text for text in cautions(results) if "deeper than the background" in text]
        rows_in, cols_in = np.nonzero(results.metadata["roi"])
        error = np.hypot(
            results.scalars["centroid_x_px"][:] + cols_in.min() - truth[:, 0],
            results.scalars["centroid_y_px"][:] + rows_in.min() - truth[:, 1],
        )
        at_rest = np.where(results.valid, error, np.inf)[:170]
        if plane:
            assert found == []
            assert np.all(at_rest < 2)
        else:
            assert len(found) == 1
            assert "use_plane_bground" in found[0]
            assert np.mean(at_rest < 2) < 0.5  # lost where it rests


def test_cautions_that_cannot_be_checked_do_not_fail_the_extraction(tmp_path, monkeypatch):
    import depthextractors.io.report as report

    def broken(results):
        raise RuntimeError("a scalar is missing")

    monkeypatch.setattr(report, "cautions", broken)
    session = tmp_path / "session"
    generate_synthetic_session(session, 60, seed=4)
    extract_session(session, session / "proc", ExtractionConfig(**QUICK))
    assert read_results(session / "proc").valid.all()
    log = (session / "proc" / "extract.log").read_text()
    assert "the cautions could not be checked: a scalar is missing" in log
