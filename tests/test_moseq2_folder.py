"""A moseq2-extract 1.4.0 project folder and command line work as they are (issue 13, items
1, 3 and 4): its config.yaml (flip classifier pickle included), every key and option honoured or
named in one warning or refused in one line, its places for the results, camera names, and
results never replaced silently. moseq2-extract itself is not needed.
"""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from depthextractors import read_results
from depthextractors.batch import find_sessions
from depthextractors.cli import main
from depthextractors.config import MOSEQ2_KEYS, ConfigError, ConfigWarning, ExtractionConfig
from depthextractors.extractors import RawDepthExtractor
from depthextractors.session_outputs import default_output_dir, resolve_output_dir
from depthextractors.testing import generate_synthetic_session

MOSEQ2_CONFIG = Path(__file__).parent / "data" / "moseq2_config.yaml"
FAST = ["--no-movie", "--write-report", "false"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def warnings_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Warning: ")]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A moseq2 project folder: config.yaml with a pickled flip classifier, one session."""
    root = tmp_path_factory.mktemp("moseq2_project")
    generate_synthetic_session(root / "session_1", 60, seed=5)
    classifier = root / "flip_classifier_k2_default.pkl"
    with open(classifier, "wb") as stream:
        pickle.dump({"model": "a scikit-learn estimator would be here"}, stream, protocol=4)
    config = yaml.safe_load(MOSEQ2_CONFIG.read_text())
    config["flip_classifier"] = str(classifier)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def test_a_moseq2_config_with_a_pickled_classifier_runs_with_one_warning(project, tmp_path):
    result = cli(
        "extract", project / "session_1" / "depth.dat", "--config-file", project / "config.yaml",
        "--output-dir", tmp_path, *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    notes = warnings_of(result.output)
    assert len(notes) == 1, result.output
    assert "flip_classifier_k2_default.pkl is a moseq2-extract classifier" in notes[0]
    assert "the motion flip corrector is used instead" in notes[0]
    assert "unsafely" not in result.output
    parameters = read_results(tmp_path).parameters
    assert parameters["flip_corrector"] == "motion"
    assert parameters["flip_classifier"] is None


def test_every_moseq2_key_is_a_parameter_or_listed():
    moseq2 = set(yaml.safe_load(MOSEQ2_CONFIG.read_text()))
    listed = {entry.key for entry in MOSEQ2_KEYS}
    parameters = set(ExtractionConfig())
    assert moseq2 <= parameters | listed, sorted(moseq2 - parameters - listed)
    for entry in MOSEQ2_KEYS:
        assert entry.action in ("honoured", "ignored", "refused")
        assert entry.reason


def test_keys_without_effect_are_named_in_one_warning():
    values = {
        "threads": 4, "fps": 30, "cluster_type": "slurm", "output_dir": "/elsewhere",
        "pixel_format": "gray16be", "movie_dtype": "<i2", "widen_radius": 3, "delete": True,
        "skip_completed": True, "mapping": "DEPTH", "recompute_bg": True, "min_height": 12,
    }  # fmt: skip
    with pytest.warns(ConfigWarning) as record:
        config = ExtractionConfig.from_dict(values, source="config.yaml")
    assert len(record) == 1
    text = str(record[0].message)
    assert text.startswith("config.yaml: moseq2-extract settings with no effect here, ignored: ")
    for named in ("threads: 4", "cluster_type: slurm", "output_dir: /elsewhere",
                  "pixel_format: gray16be", "widen_radius: 3", "delete: True"):  # fmt: skip
        assert named in text, named
    for quiet in ("movie_dtype", "mapping", "skip_completed", "recompute_bg", "fps"):
        assert f"{quiet}:" not in text, quiet
    assert config.min_height == 12
    assert config.run_options["skip_completed"] is True
    assert config.fps == 30


def test_moseq2_defaults_are_quiet_and_graduate_walls_is_refused_where_it_matters():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)  # no effect in moseq2 either: quiet
        pass_through = ExtractionConfig.from_dict({"graduate_walls": True, "dilate_iterations": 1})
    assert pass_through.dilate_iterations == 1
    with pytest.raises(ConfigError, match="graduate_walls: true with dilate_iterations: 2"):
        ExtractionConfig.from_dict({"graduate_walls": True, "dilate_iterations": 2})
    config = ExtractionConfig.from_dict({"graduate_walls": True})
    with pytest.raises(ConfigError, match="graduate_walls"):
        config.updated({"dilate_iterations": 3})


def test_a_moseq2_command_line_runs(project, tmp_path):
    session = project / "session_1"
    result = cli(
        "extract", session / "depth.dat", "--output-dir", tmp_path, "--cluster-type", "local",
        "--graduate-walls", "true", "--widen-radius", 0, "--fps", 30, "--threads", 8,
        "-m", "DEPTH", "--pixel-format", "gray16le", "--movie-dtype", "<i2",
        "--recompute-bg", "false", "--delete", "--skip-completed", "-o", "out.h5", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert warnings_of(result.output) == [
        "Warning: moseq2-extract settings with no effect here, ignored: --delete True "
        "(moseq2-extract's extract never deleted the recording either); --output-file out.h5 "
        "(moseq2-extract's extract never used it)"
    ]
    refused = cli("extract", session, "--graduate-walls", "true", "--dilate-iterations", 2, *FAST)
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        "Error: --graduate-walls true with --dilate-iterations 2 is not supported "
        "(moseq2-extract's wall graduation of a dilated arena's background is not implemented): "
        "set --graduate-walls false, or --dilate-iterations 1, where moseq2-extract does not "
        "graduate the walls either"
    ]
    batch = cli(
        "batch-extract", project, "--ncpus", 2, "--memory", "5GB", "--wall-time", "3:00:00",
        "--partition", "short", "--prefix", "", "--cluster-type", "local", "--get-cmd",
        "--skip-checks", "--extract-out-script", "extract_out.sh", "--fps", 30, *FAST,
    )  # fmt: skip
    assert batch.exit_code == 0, batch.output
    assert warnings_of(batch.output) == [
        "Warning: moseq2-extract settings with no effect here, ignored: --ncpus 2 (use "
        "batch-extract --n-jobs); --skip-checks True (sessions are found by their depth files; "
        "metadata.json is optional)"
    ]


def test_fps_that_is_not_the_recordings_says_so(project, tmp_path):
    result = cli("extract", project / "session_1", "--output-dir", tmp_path, "--fps", 25, *FAST)
    assert result.exit_code == 0, result.output
    rate = RawDepthExtractor(project / "session_1" / "depth.dat").get_sampling_frequency()
    assert (
        f"Warning: fps 25 is not the recording's frame rate ({rate:.2f} Hz): times, speeds and "
        "the preview movie follow the recording's own timestamps here, so fps is ignored"
    ) in result.output


# ---------------------------------------------------------------------------------- places
def test_a_relative_output_dir_is_placed_as_moseq2_does(project, tmp_path, monkeypatch):
    session = project / "session_1"
    recording = session / "depth.dat"
    monkeypatch.chdir(tmp_path)
    assert resolve_output_dir(recording, None) == session / "proc"
    assert resolve_output_dir(recording, "out") == session / "out"
    assert resolve_output_dir(recording, tmp_path / "abs") == tmp_path / "abs"
    # A relative path that already leads into the recording's directory is taken as given.
    relative = Path(os.path.relpath(session, tmp_path)) / "mine"
    assert resolve_output_dir(Path(os.path.relpath(recording, tmp_path)), relative) == relative
    result = cli("extract", recording, "--output-dir", "relative_out", *FAST)
    assert result.exit_code == 0, result.output
    assert (session / "relative_out" / "results_00.h5").is_file()
    assert not (tmp_path / "relative_out").exists()


def test_two_recordings_of_one_folder_never_share_results(tmp_path):
    folder = tmp_path / "two"
    generate_synthetic_session(folder, 40, seed=1)
    shutil.move(folder / "depth.dat", folder / "first.dat")
    generate_synthetic_session(tmp_path / "other", 40, seed=2)
    shutil.copy(tmp_path / "other" / "depth.dat", folder / "second.dat")
    places = {default_output_dir(folder / name) for name in ("first.dat", "second.dat")}
    assert places == {folder / "first" / "proc", folder / "second" / "proc"}
    batch = {s.input_file.name: s.output_dir for s in find_sessions(folder)}
    assert batch == {
        "first.dat": folder / "first" / "proc",
        "second.dat": folder / "second" / "proc",
    }
    uuids = set()
    for name in ("first.dat", "second.dat"):
        result = cli("extract", folder / name, *FAST)
        assert result.exit_code == 0, result.output
        uuids.add(read_results(default_output_dir(folder / name)).uuid)
    assert len(uuids) == 2
    assert not (folder / "proc").exists()
    # A session folder with one recording (moseq2's layout) and its conversions keep "proc".
    generate_synthetic_session(tmp_path / "one", 20, seed=3)
    assert default_output_dir(tmp_path / "one" / "depth.dat") == tmp_path / "one" / "proc"
    (tmp_path / "one" / "depth.avi").touch()
    assert default_output_dir(tmp_path / "one" / "depth.avi") == tmp_path / "one" / "proc"
    assert default_output_dir(tmp_path / "s.tar.gz") == tmp_path / "s" / "proc"


def test_extract_and_batch_extract_put_results_in_the_same_place(tmp_path):
    root = tmp_path / "root"
    generate_synthetic_session(root / "a", 30, seed=4)
    result = cli("batch-extract", root, "--output-dir", "results", *FAST)
    assert result.exit_code == 0, result.output
    batch_uuid = read_results(root / "a" / "results").uuid
    again = cli("extract", root / "a" / "depth.dat", "--output-dir", "results", "--skip-completed",
                *FAST)  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "already extracted" in again.output
    assert read_results(root / "a" / "results").uuid == batch_uuid


# ---------------------------------------------------------------------------------- cameras
@pytest.mark.parametrize("name", ["k2", "K2", "kinect", "kinect_v2", "auto"])
def test_camera_names_are_accepted_everywhere(project, tmp_path, name):
    session = project / "session_1"
    config_file = tmp_path / "camera.yaml"
    config_file.write_text(f"camera_type: {name}\n")
    commands = [
        ["generate-config", "-o", tmp_path / "generated.yaml", "--camera-type", name],
        ["extract", session, "--output-dir", tmp_path / "e", "--camera-type", name, *FAST],
        ["extract", session, "--output-dir", tmp_path / "c", "--config-file", config_file, *FAST],
        ["find-roi", session / "depth.dat", "--output-dir", tmp_path / "r", "--camera-type", name],
        ["copy-slice", session / "depth.dat", "-c", 0, 5, "-o", tmp_path / "s.avi",
         "--camera-type", name],
        ["convert-raw-to-avi", session / "depth.dat", "-o", tmp_path / "c.avi", "--camera-type",
         name],
    ]  # fmt: skip
    for command in commands:
        result = cli(*command)
        assert result.exit_code == 0, (command, result.output)


def test_generate_config_writes_a_camera_models_preset(tmp_path):
    result = cli(
        "generate-config", "-o", tmp_path / "c.yaml", "--camera-type", "azure_nfov_unbinned"
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((tmp_path / "c.yaml").read_text())
    assert config["camera_type"] == "azure_nfov_unbinned"
    assert config["crop_size"] == [120, 120]
    assert config["bg_roi_depth_range"] == [550, 650]


# ---------------------------------------------------------------------------------- reading
def test_the_readers_escape_hatches_have_options(tmp_path):
    generate_synthetic_session(tmp_path / "s", 20, seed=6)
    raw = tmp_path / "bare" / "depth.dat"
    raw.parent.mkdir()
    raw.write_bytes((tmp_path / "s" / "depth.dat").read_bytes() + b"\0" * 5)
    refused = cli("extract", raw, *FAST)
    assert refused.exit_code == 2
    assert "pass --allow-partial-frame to read the whole frames only" in refused.output
    assert "allow_partial_frame" not in refused.output
    result = cli("extract", raw, "--allow-partial-frame", "--frame-size", 424, 512, *FAST)
    assert result.exit_code == 0, result.output
    assert len(read_results(raw.parent / "proc")) == 20
    wrong = cli("extract", raw, "--track", "DEPTH", *FAST)
    assert wrong.exit_code == 2
    assert "Error: --track DEPTH does not apply to depth.dat" in wrong.output


def test_moseq2_mapping_chooses_the_mkv_track(tmp_path):
    from depthextractors.testing.matroska import write_azure_like_mkv

    generate_synthetic_session(tmp_path / "s", 30, seed=8)
    video = RawDepthExtractor(tmp_path / "s" / "depth.dat")
    times = np.rint(video.get_timestamps() * 1e6).astype(np.int64)
    (tmp_path / "m").mkdir()
    mkv = write_azure_like_mkv(
        tmp_path / "m" / "rec.mkv", video.get_video(0, 30), depth_times_us=times,
        capture_times_us=times, depth_title="DEPTH_B",
    )  # fmt: skip
    config_file = tmp_path / "config.yaml"
    config_file.write_text("mapping: DEPTH_B\n")
    default = cli("extract", mkv, *FAST)
    assert default.exit_code == 2
    assert "no video track titled 'DEPTH'" in default.output
    for extra in (["--mapping", "DEPTH_B"], ["--track", "DEPTH_B"], ["--config-file", config_file]):
        result = cli("extract", mkv, "--output-dir", tmp_path / extra[0].strip("-"), *extra, *FAST)
        assert result.exit_code == 0, (extra, result.output)
        assert len(read_results(tmp_path / extra[0].strip("-"))) == 30
    # moseq2's mapping is about .mkv tracks: other files, with one stream, ignore it.
    raw = cli("extract", tmp_path / "s", "--config-file", config_file, *FAST)
    assert raw.exit_code == 0, raw.output
