"""The command line: every command, moseq2 config files, one-line errors with exit code 2."""

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from depthextractors import __version__, open_depth_video, read_results
from depthextractors.cli import main
from depthextractors.testing import generate_synthetic_session

MOSEQ2_CONFIG = Path(__file__).parent / "data" / "moseq2_config.yaml"
COMMANDS = [
    "extract", "find-roi", "convert-raw-to-avi", "copy-slice", "generate-config",
    "generate-index", "aggregate-results", "batch-extract", "export-nwb", "report",
    "train-flip-classifier", "demo", "compare",
]  # fmt: skip


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli") / "session_1"
    generate_synthetic_session(directory, 120, seed=7)
    return directory


@pytest.fixture(scope="module")
def extracted(session):
    """The session extracted through the CLI with a moseq2 config.yaml."""
    result = run("extract", session / "depth.dat", "--config-file", MOSEQ2_CONFIG)
    assert result.exit_code == 0, result.output
    return session / "proc", result


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_help_everywhere(command):
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "--debug" in result.output


def test_extract_options_have_moseq2_names_and_defaults():
    text = run("extract", "--help").output
    for option, default in [
        ("--bg-roi-depth-range", "650, 750"), ("--min-height", "10"), ("--max-height", "120"),
        ("--dilate-iterations", "1"),
        ("--crop-size", "80, 80"), ("--tail-filter-size", "9, 9"), ("--use-cc", "True"),
        ("--camera-type", "auto"), ("--spatial-filter-size", "3"), ("--bg-roi-dilate", "10, 10"),
        ("--frame-trim", "0, 0"), ("--centroid-hampel-sig", "3"),
    ]:  # fmt: skip
        assert option in text
        block = text[text.index(option) :].split("\n  -")[0]
        assert f"[default: {default}]" in " ".join(block.split()), option
    for flag in ("--config-file", "--progress-bar", "--skip-completed", "--no-movie"):
        assert flag in text


def test_extract_with_a_moseq2_config_writes_every_output(extracted):
    proc, result = extracted
    for name in (
        "results_00.h5", "results_00.yaml", "results_00.mp4", "report.html", "extract.log",
        "bground.tiff", "roi.tiff", "first_frame.tiff",
    ):  # fmt: skip
        assert (proc / name).is_file(), name
    assert str(proc / "results_00.h5") in result.output
    results = read_results(proc)
    assert len(results) == 120
    assert results.valid.mean() > 0.8
    # The config file's values reached the extraction (moseq2's chunk_size 3000, kinect camera).
    assert results.parameters["chunk_size"] == 3000
    status = yaml.safe_load((proc / "results_00.yaml").read_text())
    assert status["complete"] is True
    log = (proc / "extract.log").read_text()
    assert "chunk_size: 3000" in log
    assert "done in" in log


def test_extract_skip_completed(extracted, session):
    proc, _ = extracted
    before = (proc / "results_00.h5").stat().st_mtime_ns
    result = run("extract", session, "--skip-completed")
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output
    assert (proc / "results_00.h5").stat().st_mtime_ns == before


def test_command_line_overrides_the_config_file(session, tmp_path):
    out = tmp_path / "out"
    result = run(
        "extract", session, "--config-file", MOSEQ2_CONFIG, "--output-dir", out,
        "--num-frames", 40, "--crop-size", 64, 64, "--no-movie", "--min-height", 12,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = read_results(out)
    assert results.frames.shape == (40, 64, 64)
    assert results.parameters["min_height"] == 12
    assert results.parameters["chunk_size"] == 3000  # still from the file
    assert not (out / "results_00.mp4").exists()


def test_even_filter_size_warns_in_one_line_and_goes_on(session, tmp_path):
    result = run(
        "extract", session, "--output-dir", tmp_path / "o", "--spatial-filter-size", 4,
        "--num-frames", 20, "--no-movie",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Warning: spatial_filter_size must be an odd number; using 5" in result.output
    assert read_results(tmp_path / "o").parameters["spatial_filter_size"] == [5]


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d, s: ["extract", d / "missing.dat"], "does not exist"),
        (lambda d, s: ["extract", d / "notes.txt"], "no extractor reads notes.txt"),
        (lambda d, s: ["extract", s, "--config-file", d / "broken.yaml"], "not valid YAML"),
        (lambda d, s: ["extract", s, "--config-file", d / "nope.yaml"], "does not exist"),
        (lambda d, s: ["extract", s, "--min-height", 200], "--min-height (200 mm) must be below"),
        (lambda d, s: ["extract", s, "--max-height", 400], "uint16"),
        (lambda d, s: ["extract", s, "--chunk-size", 0], "--chunk-size must be at least 1"),
        (lambda d, s: ["extract", d / "short.dat"], "plus 7 extra bytes"),
        (lambda d, s: ["extract", d / "short.dat"], "or pass --allow-partial-frame to read"),
        (lambda d, s: ["find-roi", d / "missing.avi"], "does not exist"),
        (lambda d, s: ["report", d / "nothing"], "does not exist"),
        (lambda d, s: ["batch-extract", d / "missing_dir"], "does not exist"),
        (lambda d, s: ["copy-slice", s, "-c", 10, 5], "--copy-slice"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, session, make_args, message):
    (tmp_path / "notes.txt").write_text("not a recording")
    (tmp_path / "broken.yaml").write_text("min_height: [10\n")
    (tmp_path / "short.dat").write_bytes(b"\x00" * (512 * 424 * 2 + 7))
    result = run(*make_args(tmp_path, session))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    assert message in errors[0], result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    command = [sys.executable, "-m", "depthextractors", "extract", str(tmp_path / "notes.txt")]
    completed = subprocess.run([*command, "--debug"], capture_output=True, text=True, check=False)
    assert completed.returncode != 0
    assert "Traceback" in completed.stderr
    assert "no extractor reads" in completed.stderr
    quiet = subprocess.run(command, capture_output=True, text=True, check=False)
    assert quiet.returncode == 2
    assert quiet.stderr.strip().count("\n") == 0
    assert "Traceback" not in quiet.stderr


def test_generate_config_round_trips_and_never_overwrites(tmp_path):
    target = tmp_path / "config.yaml"
    assert run("generate-config", "-o", target).exit_code == 0
    values = yaml.safe_load(target.read_text())
    assert values["bg_roi_depth_range"] == [650.0, 750.0]
    assert values["min_height"] == 10.0
    again = run("generate-config", "-o", target)
    assert again.exit_code == 2
    assert "exists" in again.output
    azure = tmp_path / "azure.yaml"
    assert run("generate-config", "-o", azure, "--camera-type", "azure").exit_code == 0
    assert yaml.safe_load(azure.read_text())["crop_size"] == [120, 120]


def test_find_roi_writes_the_arena_images(session, tmp_path):
    result = run("find-roi", session, "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "true depth" in result.output
    # the animal measured on sampled frames: a Kinect mouse is 15-20 pixels wide
    width = float(result.output.split("animal")[1].split("px wide")[0])
    assert 12 < width < 24, result.output
    for name in ("bground.tiff", "roi.tiff", "first_frame.tiff", "roi_overlay.png"):
        assert (tmp_path / name).is_file()


def test_report_and_export_nwb_commands(extracted, tmp_path):
    proc, _ = extracted
    result = run("report", proc / "results_00.h5", "--output-dir", tmp_path, "--num-crops", 6)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.html").is_file()
    assert (tmp_path / "report" / "crops.png").is_file()
    nwb = tmp_path / "session.nwb"
    result = run("export-nwb", proc, "-o", nwb, "--age", "P90D")
    assert result.exit_code == 0, result.output
    assert nwb.is_file()
    from depthextractors import ExtractionResults

    back = ExtractionResults.from_nwb(nwb)
    assert len(back) == 120
    other = tmp_path / "other.nwb"
    result = run(
        "export-nwb", proc, "-o", other, "--age", "P90D", "--subject-id", "mouse-07",
        "--session-start-time", "2024-05-01T10:30:00+02:00",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(other, "r") as io:
        nwbfile = io.read()
        assert nwbfile.session_start_time.isoformat() == "2024-05-01T10:30:00+02:00"
        assert nwbfile.subject.subject_id == "mouse-07"
    result = run("export-nwb", proc, "-o", tmp_path / "x.nwb", "--session-start-time", "soon")
    assert result.exit_code == 2
    assert "'soon' is not an ISO 8601 date and time" in result.output
    assert "Traceback" not in result.output


def test_convert_raw_to_avi_and_copy_slice(tmp_path):
    session = tmp_path / "s"
    generate_synthetic_session(session, 30, seed=2)
    result = run("convert-raw-to-avi", session / "depth.dat", "-o", tmp_path / "depth.avi")
    assert result.exit_code == 0, result.output
    raw = open_depth_video(session / "depth.dat")
    np.testing.assert_array_equal(
        open_depth_video(tmp_path / "depth.avi").get_video(), raw.get_video()
    )
    result = run("copy-slice", session / "depth.dat", "-c", 5, 15, "-o", tmp_path / "part.avi")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(
        open_depth_video(tmp_path / "part.avi").get_video(), raw.get_video(5, 15)
    )


def test_demo_extracts_reports_and_exports(tmp_path):
    result = run("demo", "--output-dir", tmp_path, "--num-frames", 60)
    assert result.exit_code == 0, result.output
    assert "kinect_v2 (424 x 512 pixels)" in result.output
    assert "frames           60" in result.output
    assert "(moseq2's centroid_x_px)" in result.output
    assert "(body_centroid_x_px)" in result.output
    assert (tmp_path / "session" / "depth.dat").stat().st_size == 60 * 424 * 512 * 2
    proc = tmp_path / "session" / "proc"
    for name in ("results_00.h5", "results_00.mp4", "report.html"):
        assert str(proc / name) in result.output
        assert (proc / name).is_file()
    with h5py.File(proc / "results_00.h5") as handle:
        assert handle["frames"].shape == (60, 80, 80)
    assert (proc / "results_00.nwb").is_file()
    assert str(proc / "results_00.nwb") in result.output


def test_demo_rejects_bad_numbers(tmp_path):
    result = run("demo", "--output-dir", tmp_path, "--num-frames", 2)
    assert result.exit_code == 2
    assert "num-frames" in result.output


def test_console_script_is_installed():
    executable = shutil.which("depthextractors")
    assert executable is not None
    completed = subprocess.run(
        [sys.executable, "-m", "depthextractors", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for command in COMMANDS:
        assert command in completed.stdout


def test_generate_config_writes_the_em_tracker_keys(tmp_path):
    target = tmp_path / "config.yaml"
    assert run("generate-config", "-o", target).exit_code == 0
    values = yaml.safe_load(target.read_text())
    assert values["tracking_model_cable_sigma"] == 2.5
    assert values["tracking_model_rho_mean"] == 0.0
    assert values["tracking_model_rho_cov"] == 0.0
    help_text = run("extract", "--help").output
    assert "--tracking-model-cable-sigma" in help_text


# ------------------------------------------------------------------------------------------
# train-flip-classifier
# ------------------------------------------------------------------------------------------
def _heading_right_fraction(results, truth):
    angle = np.asarray(results.scalars["angle"][:], dtype=np.float64)
    counted = results.valid & truth.visible[: angle.size]
    right = np.cos(angle - truth.heading[: angle.size]) > 0
    return right[counted].mean(), int(counted.sum())


@pytest.fixture(scope="module")
def flip_sessions(tmp_path_factory):
    """Two synthetic sessions extracted through the CLI (motion flip corrector by default)."""
    root = tmp_path_factory.mktemp("flip_cli")
    made = []
    for name, seed in (("train", 30), ("other", 31)):
        truth = generate_synthetic_session(root / name, 500, seed=seed).truth
        result = run("extract", root / name / "depth.dat", "--no-movie", "--write-report", "false")
        assert result.exit_code == 0, result.output
        made.append((root / name / "proc", truth))
    return root, made


def test_train_flip_classifier_then_extract_with_it(flip_sessions):
    root, ((train_dir, _), (other_dir, truth)) = flip_sessions
    classifier = root / "flips.npz"
    result = run(
        "train-flip-classifier", train_dir / "results_00.h5", "-o", classifier,
        "--smoothing", "15", "--seed", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert classifier.is_file()
    assert "held-out accuracy" in result.output
    accuracy = float(result.output.split("held-out accuracy")[1].split("%")[0])
    assert accuracy > 99
    assert "crop size         80 x 80" in result.output

    # extract's --flip-classifier goes through the config (flip_classifier) to
    # ClassifierFlipCorrector.load: the other session comes out the right way round.
    out = root / "other_with_classifier"
    result = run(
        "extract", other_dir.parent / "depth.dat", "--output-dir", out, "--no-movie",
        "--write-report", "false", "--flip-classifier", classifier,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = read_results(out)
    assert results.parameters["flip_classifier"] == str(classifier)
    assert results.parameters["flip_classifier_smoothing"] == 51  # extract's own default
    fraction, counted = _heading_right_fraction(results, truth)
    assert counted > 400
    assert fraction >= 0.99, fraction

    # Refuses to replace the file unless asked.
    again = run("train-flip-classifier", train_dir, "-o", classifier)
    assert again.exit_code == 2
    assert "exists" in again.output
    assert run("train-flip-classifier", train_dir, "-o", classifier, "--overwrite").exit_code == 0


def test_train_flip_classifier_with_labels(flip_sessions, tmp_path):
    _, ((train_dir, truth), _) = flip_sessions
    results = read_results(train_dir)
    angle = np.asarray(results.scalars["angle"][:], dtype=np.float64)
    labels = np.where(np.cos(angle - truth.heading[: angle.size]) > 0, 0, 1)
    labels[::4] = -1
    np.savez(tmp_path / "labels.npz", labels)
    result = run(
        "train-flip-classifier", train_dir, "-o", tmp_path / "flips.npz",
        "--labels", tmp_path / "labels.npz",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "labels            given" in result.output


def test_train_flip_classifier_bad_input(flip_sessions, tmp_path):
    _, ((train_dir, _), (other_dir, _)) = flip_sessions
    output = tmp_path / "flips.npz"
    bad_labels = tmp_path / "bad_labels.npz"
    np.savez(bad_labels, np.full(len(read_results(train_dir)), 2))
    float_labels = tmp_path / "float_labels.npz"
    np.savez(float_labels, np.zeros(10, dtype=float))
    two_arrays = tmp_path / "two.npz"
    np.savez(two_arrays, np.zeros(3, dtype=int), np.zeros(3, dtype=int))
    not_npz = tmp_path / "labels.txt"
    not_npz.write_text("0 1 0\n")
    # Another crop size: a copy of the other session's results with 40x40 frames.
    small = tmp_path / "small" / "results_00.h5"
    small.parent.mkdir()
    shutil.copy(other_dir / "results_00.h5", small)
    with h5py.File(small, "r+") as handle:
        frames = handle["frames"][:, 20:60, 20:60]
        mask = handle["frames_mask"][:, 20:60, 20:60]
        del handle["frames"], handle["frames_mask"]
        handle["frames"], handle["frames_mask"] = frames, mask
    train = ("train-flip-classifier", train_dir, "-o", output)
    cases = {
        "does not exist": ("train-flip-classifier", tmp_path / "nowhere", "-o", output),
        "different crop sizes": ("train-flip-classifier", train_dir, small, "-o", output),
        "only 0 (nose east)": (
            "train-flip-classifier", train_dir, "-o", output, "--labels", bad_labels,
        ),
        "1-D integers": (*train, "--labels", float_labels),
        "holds 2 arrays": (*train, "--labels", two_arrays),
        "not a readable .npz": (
            "train-flip-classifier", train_dir, "-o", output, "--labels", not_npz,
        ),
        "odd number": ("train-flip-classifier", train_dir, "-o", output, "--smoothing", "50"),
    }  # fmt: skip
    for expected, args in cases.items():
        result = run(*args)
        assert result.exit_code == 2, (expected, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("Error:"), result.output
        assert expected in lines[0], (expected, lines[0])
        assert "Traceback" not in result.output
    assert not output.exists()
    missing_output = run("train-flip-classifier", train_dir)
    assert missing_output.exit_code == 2
    assert "--output-file" in missing_output.output
    help_text = run("train-flip-classifier", "--help").output
    for option in ("--labels", "--min-confidence", "--feature-size", "--held-out-fraction"):
        assert option in help_text


def test_an_infrared_file_is_refused_in_cli_words_and_read_with_allow_ir(session, tmp_path):
    infrared = tmp_path / "ir.dat"
    shutil.copyfile(session / "depth.dat", infrared)
    refused = run("extract", infrared, "--output-dir", tmp_path / "a", "--no-movie")
    assert refused.exit_code == 2
    errors = [line for line in refused.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "--allow-ir" in errors[0]
    assert "allow_ir" not in errors[0]
    read = run("extract", infrared, "--output-dir", tmp_path / "b", "--no-movie", "--allow-ir")
    assert read.exit_code == 0, read.output
    assert len(read_results(tmp_path / "b")) == len(open_depth_video(session))


def test_a_corrupt_archive_is_one_line_without_a_python_type(session, tmp_path):
    import tarfile

    archive = tmp_path / "session.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for name in ("depth.dat", "depth_ts.txt", "metadata.json"):
            tar.add(session / name, arcname=name)
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    archive.write_bytes(bytes(data))
    result = run("extract", archive, "--output-dir", tmp_path / "out", "--no-movie")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"Error: {archive} is corrupt")
    assert "CorruptRecordingError" not in result.output
