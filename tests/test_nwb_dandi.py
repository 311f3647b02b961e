"""DANDI-ready NWB from the command line (issue 16), checked with the real tools.

The CLI exports a synthetic session with the options and metadata file of docs/outputs.md; the
file must have no NWB Inspector message at CRITICAL under DANDI's configuration, and, after
``dandi organize``, ``dandi validate`` must report no error (skipped, with the reason, where the
``dandi`` client is not installed: it is in the ``test`` extra). Timestamps start within one
frame of 0 s. The real Datta-lab NWB file reads back as scalars-only results.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from nwbinspector import Importance, inspect_nwbfile, load_config
from pynwb import NWBHDF5IO, TimeSeries

from depthextractors import ExtractionResults, read_results
from depthextractors.cli import main
from depthextractors.io.nwb import dandi_file_name, inspect_for_dandi
from depthextractors.io.report import write_report
from depthextractors.testing import generate_synthetic_session

DOCS = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
REAL = Path(__file__).resolve().parents[2] / "shared/data/real"
NUM_FRAMES = 150
DANDISET_YAML = "identifier: DANDI:000000\nname: test\ndescription: depthextractors test\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _documented() -> tuple[str, list[str]]:
    """The metadata YAML and the export-nwb options of the NWB section of docs/outputs.md."""
    text = DOCS.read_text(encoding="utf-8").split("## NWB", 1)[1]
    metadata = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    command = re.search(r"```bash\n(depthextractors export-nwb .*?)\n```", text, re.S).group(1)
    return metadata, command.split()[3:]  # after "depthextractors export-nwb session_01/proc"


def _dandi() -> list[str]:
    """The ``dandi`` command of this environment (skips the test when it is not installed)."""
    script = Path(sys.executable).with_name("dandi")
    if not script.is_file():
        pytest.skip(
            "the dandi client is not installed (pip install 'depthextractors[test]' brings it "
            "on Python 3.10-3.13); the DANDI validation cannot run"
        )
    return [str(script)]


# No version check over the network (dandi's etelemetry) in the tests.
ENVIRONMENT = {**os.environ, "DANDI_NO_ET": "1"}


def _dandi_validate(dandiset: Path) -> str:
    result = subprocess.run(
        [*_dandi(), "validate", str(dandiset)],
        capture_output=True, text=True, check=False, env=ENVIRONMENT,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No errors found" in output, output
    return output


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dandi") / "session_01"
    generate_synthetic_session(directory, NUM_FRAMES, seed=11)
    result = run("extract", directory / "depth.dat", "--no-movie")
    assert result.exit_code == 0, result.output
    return directory


@pytest.fixture(scope="module")
def documented_export(session, tmp_path_factory):
    """The documented export: metadata YAML, age, sex, the raw video."""
    metadata, options = _documented()
    folder = tmp_path_factory.mktemp("export")
    (folder / "lab.yaml").write_text(metadata, encoding="utf-8")
    options = [
        str(folder / "lab.yaml") if o == "lab.yaml" else str(session) if o == "session_01" else o
        for o in options
    ]
    result = run("export-nwb", session / "proc", *options)
    assert result.exit_code == 0, result.output
    return session / "proc" / "results_00.nwb", result.output


def test_documented_export_passes_the_dandi_checks(documented_export):
    path, output = documented_export
    assert "no CRITICAL message" in output
    assert "DANDI name: sub-synthetic-mouse-11_ses-synthetic-round-11_behavior+image.nwb" in output
    messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    assert [m for m in messages if m.importance == Importance.CRITICAL] == []
    # The metadata file's fields are in the file.
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        assert nwbfile.experimenter == ("Doe, Jane",)
        assert "MoSeq" in list(nwbfile.keywords[:])
        assert nwbfile.subject.strain == "C57BL/6J"
        assert (nwbfile.subject.age, nwbfile.subject.sex) == ("P12W", "M")
        assert nwbfile.acquisition["depth_video"].external_file[0] == "results_00/depth.avi"


def test_timestamps_start_at_the_session_start(documented_export):
    path, _ = documented_export
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        series = [obj for obj in nwbfile.objects.values() if isinstance(obj, TimeSeries)]
        assert len(series) > 20
        frame = 1 / 30
        for item in series:
            first = item.starting_time if item.timestamps is None else item.timestamps[0]
            assert 0 <= first < frame, item.name
        clock = nwbfile.processing["behavior"]["extraction_metadata"]
        offset = dict(zip(clock["key"][:], clock["value"][:], strict=True))
    # The camera-clock time of 0 s is kept, and from_nwb gives the recording's clock back.
    results = read_results(path.parent)
    assert float(offset["camera_clock_at_time_zero_s"]) == results.timestamps[0]
    np.testing.assert_array_equal(ExtractionResults.from_nwb(path).timestamps, results.timestamps)


def test_dandi_organize_then_validate_reports_no_error(documented_export, tmp_path):
    path, _ = documented_export
    dandiset = tmp_path / "dandiset"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text(DANDISET_YAML, encoding="utf-8")
    organize = subprocess.run(
        # As docs/outputs.md says.
        [*_dandi(), "organize", str(path), "-f", "copy", "--update-external-file-paths",
         "--media-files-mode", "copy"],
        cwd=dandiset, capture_output=True, text=True, check=False, env=ENVIRONMENT,
    )  # fmt: skip
    assert organize.returncode == 0, organize.stdout + organize.stderr
    organized = sorted(p.relative_to(dandiset).as_posix() for p in dandiset.rglob("*.nwb"))
    assert organized == ["sub-synthetic-mouse-11/sub-synthetic-mouse-11_behavior+image.nwb"]
    videos = list(dandiset.rglob("*.avi"))
    assert len(videos) == 1  # the raw video went along
    _dandi_validate(dandiset)


def test_dandiset_dir_writes_under_the_dandi_name(session, tmp_path):
    dandiset = tmp_path / "dandiset"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text(DANDISET_YAML, encoding="utf-8")
    result = run(
        "export-nwb", session / "proc", "--dandiset-dir", dandiset, "--age", "P12W",
        "--subject-id", "mouse_01", "--session-id", "day 1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = dandiset / "sub-mouse-01" / "sub-mouse-01_ses-day-1_behavior+image.nwb"
    assert expected.is_file(), result.output
    assert expected.name == dandi_file_name("mouse_01", "day 1", ("image", "behavior"))
    _dandi_validate(dandiset)


def test_a_missing_age_is_one_error_naming_option_and_key(session, tmp_path):
    path = tmp_path / "no_age.nwb"
    result = run("export-nwb", session / "proc", "-o", path)
    assert result.exit_code == 2
    assert "--age / Subject.age" in result.output
    assert "--allow-incomplete" in result.output
    assert "Traceback" not in result.output
    assert not path.exists()
    result = run("export-nwb", session / "proc", "-o", path, "--allow-incomplete")
    assert result.exit_code == 0, result.output
    assert "CRITICAL /general/subject: Subject is missing age and date_of_birth" in result.output
    assert "will not pass `dandi validate`" in result.output
    assert not inspect_for_dandi(path).passes


def test_options_win_over_the_metadata_file(session, tmp_path):
    metadata = tmp_path / "lab.yaml"
    metadata.write_text(
        yaml.safe_dump(
            {"NWBFile": {"lab": "YAML lab", "keywords": ["a"]},
             "Subject": {"species": "Rattus norvegicus", "age": "P8W", "genotype": "wt"}}
        ),
        encoding="utf-8",
    )  # fmt: skip
    path = tmp_path / "x.nwb"
    result = run(
        "export-nwb", session / "proc", "-o", path, "--metadata", metadata, "--lab", "Option lab",
        "--experimenter", "Doe, Jane", "--experimenter", "Roe, Rick", "--keyword", "b",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        assert nwbfile.lab == "Option lab"
        assert nwbfile.experimenter == ("Doe, Jane", "Roe, Rick")
        assert list(nwbfile.keywords[:]) == ["b"]
        # The YAML's species is not replaced by the default (Mus musculus).
        assert nwbfile.subject.species == "Rattus norvegicus"
        assert nwbfile.subject.genotype == "wt"
    metadata.write_text("Subject:\n  colour: black\n", encoding="utf-8")
    result = run("export-nwb", session / "proc", "-o", tmp_path / "y.nwb", "--metadata", metadata)
    assert result.exit_code == 2
    assert "Subject.colour is not a field" in result.output


# ------------------------------------------------------------------------------- real data
def _reference_nwb() -> Path:
    files = sorted((REAL / "nwb_reference").glob("*.nwb")) if REAL.is_dir() else []
    if not files:
        pytest.skip(f"the real Datta-lab NWB file is absent ({REAL / 'nwb_reference'})")
    return files[0]


def test_the_datta_lab_file_reads_back_as_scalars(tmp_path):
    reference = _reference_nwb()
    results = ExtractionResults.from_nwb(reference)
    assert results.frames is None
    assert results.frames_mask is None
    assert len(results) == 53892
    assert {"centroid_x_mm", "centroid_y_mm", "height_ave_mm", "angle"} <= set(results.scalars)
    assert "BehavioralSyllable" in results.scalars  # the other per-frame series, by name
    # The file's own clock: seconds from its session start.
    assert results.timestamps[0] == pytest.approx(3.333375)
    assert results.metadata["acquisition"]["SubjectName"] == "dlight-chrimson-1"
    valid = results.valid
    assert 0.9 < valid.mean() < 1.0  # 350 frames without the animal
    angle = np.asarray(results.scalars["angle"])
    assert np.ptp(angle) > 100  # unwrapped, as stored
    # The rest copes: the report (without arena pictures or crops), and a re-export.
    page = write_report(results, tmp_path / "report", num_crops=4)
    assert "Frames extracted" in page.read_text(encoding="utf-8")
    assert not (tmp_path / "report" / "report" / "crops.png").exists()
    subject = {"species": "Mus musculus", "age": "P6W/", "sex": "U"}
    path = results.to_nwb(tmp_path / "again.nwb", subject=subject)
    assert inspect_for_dandi(path).passes
    back = ExtractionResults.from_nwb(path)
    assert back.frames is None
    np.testing.assert_array_equal(back.scalars["angle"], angle)
    np.testing.assert_allclose(back.timestamps, results.timestamps, rtol=0, atol=1e-9)
