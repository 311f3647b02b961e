"""The session and subject of an exported NWB file (issues 6 and 16): fields from the recording,
a NeuroConv-style metadata dict, keyword arguments; what DANDI requires checked before anything
is written; the session start time."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from nwbinspector import Importance, inspect_nwbfile
from pynwb import NWBHDF5IO
from pynwb.file import Subject

from depthextractors import RawDepthExtractor, SessionExtraction
from depthextractors.io import ExtractionResults, InMemoryResultsWriter
from depthextractors.io.nwb import IncompleteMetadataError
from depthextractors.testing import generate_synthetic_session

SUBJECT = {"species": "Mus musculus", "age": "P12W", "sex": "M"}


@pytest.fixture(scope="module")
def memory_results(tmp_path_factory):
    session = generate_synthetic_session(tmp_path_factory.mktemp("nwb_meta"), 120, seed=3)
    extraction = SessionExtraction(RawDepthExtractor(session.depth_path), flip_corrector=None)
    return extraction.run(InMemoryResultsWriter(), chunk_size=64, progress=False)


def serious(path) -> list:
    """NWB Inspector's messages at BEST_PRACTICE_VIOLATION or above, but the unwrapped heading
    (see test_nwb.inspect)."""
    bar = Importance.BEST_PRACTICE_VIOLATION.value
    return [
        m
        for m in inspect_nwbfile(nwbfile_path=str(path))
        if m.importance.value >= bar
        and m.check_function_name != ("check_spatial_series_radians_magnitude")
    ]


def test_existing_file_is_kept_unless_overwrite(memory_results, tmp_path):
    path = tmp_path / "twice.nwb"
    memory_results.to_nwb(path, subject=SUBJECT)
    size = path.stat().st_size
    with pytest.raises(FileExistsError, match="overwrite=True"):
        memory_results.to_nwb(path, subject=SUBJECT)
    assert path.stat().st_size == size
    memory_results.to_nwb(path, subject=SUBJECT, overwrite=True, identifier="second")
    with NWBHDF5IO(path, "r") as io:
        assert io.read().identifier == "second"


def test_session_and_subject_overrides(memory_results, tmp_path):
    start = datetime(2025, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    subject = Subject(subject_id="m7", species="Rattus norvegicus", age="P60D", sex="F")
    path = memory_results.to_nwb(
        tmp_path / "override.nwb",
        subject=subject,
        session_description="open field, day 2",
        session_start_time=start,
        experimenter="Doe, Jane",
        lab="Test lab",
        institution="Test institute",
    )
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        assert nwbfile.session_description == "open field, day 2"
        assert nwbfile.session_start_time == start
        assert nwbfile.subject.subject_id == "m7"
        assert nwbfile.subject.species == "Rattus norvegicus"
        assert nwbfile.experimenter == ("Doe, Jane",)
        assert nwbfile.lab == "Test lab"


def test_missing_species_and_age_is_one_error_unless_allowed(memory_results, tmp_path):
    with pytest.raises(IncompleteMetadataError) as error:
        memory_results.to_nwb(tmp_path / "no_species.nwb")
    text = str(error.value)
    # One error naming every missing field with its option and metadata key.
    assert "--species / Subject.species" in text
    assert "--age / Subject.age" in text
    assert "--allow-incomplete" in text
    assert not any(tmp_path.iterdir())
    with pytest.warns(UserWarning, match="will not pass DANDI's checks: no subject species"):
        path = memory_results.to_nwb(tmp_path / "no_species.nwb", allow_incomplete=True)
    with NWBHDF5IO(path, "r") as io:
        subject = io.read().subject
        assert subject.subject_id == "synthetic-mouse-3"
        assert subject.sex == "U"
        assert subject.age is None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ({**SUBJECT, "age": "12 weeks"}, "subject age '12 weeks' is not an ISO 8601 duration"),
        ({**SUBJECT, "species": "mouse"}, "species 'mouse' is neither a Latin binomial"),
        ({**SUBJECT, "sex": "male"}, "subject sex 'male' is not one of M, F, U"),
        ({**SUBJECT, "subject_id": "a/b"}, "subject id 'a/b' has a '/'"),
    ],
)
def test_malformed_dandi_fields_are_refused(memory_results, tmp_path, subject, expected):
    with pytest.raises(IncompleteMetadataError, match=expected):
        memory_results.to_nwb(tmp_path / "bad.nwb", subject=subject)
    assert not any(tmp_path.iterdir())


def test_neuroconv_style_metadata_and_fields(memory_results, tmp_path):
    metadata = {
        "NWBFile": {
            "experiment_description": "open field",
            "experimenter": ["Doe, Jane", "Roe, Rick"],
            "keywords": ["MoSeq", "open field"],
            "lab": "Datta",
            "related_publications": "doi:10.1038/s41586-022-05611-2",
        },
        "Subject": {
            "species": "Mus musculus", "sex": "F", "date_of_birth": "2025-10-01",
            "strain": "C57BL/6J", "genotype": "wild type", "description": "8 weeks old",
        },
    }  # fmt: skip
    # Keyword arguments win over the metadata.
    path = memory_results.to_nwb(tmp_path / "meta.nwb", metadata=metadata, lab="Other lab")
    assert serious(path) == []
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        assert nwbfile.experimenter == ("Doe, Jane", "Roe, Rick")
        assert tuple(nwbfile.keywords[:]) == ("MoSeq", "open field")
        assert nwbfile.experiment_description == "open field"
        assert nwbfile.related_publications == ("doi:10.1038/s41586-022-05611-2",)
        assert nwbfile.lab == "Other lab"
        subject = nwbfile.subject
        assert (subject.strain, subject.genotype, subject.sex) == ("C57BL/6J", "wild type", "F")
        assert subject.date_of_birth == datetime(2025, 10, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match=r"Subject\.colour is not a field"):
        memory_results.to_nwb(tmp_path / "x.nwb", metadata={"Subject": {"colour": "black"}})
    with pytest.raises(ValueError, match="section 'Ecephys'"):
        memory_results.to_nwb(tmp_path / "x.nwb", metadata={"Ecephys": {}})
    with pytest.raises(ValueError, match="has no time zone"):
        memory_results.to_nwb(
            tmp_path / "x.nwb", subject=SUBJECT, session_start_time="2024-05-01T10:30:00"
        )
    assert not (tmp_path / "x.nwb").exists()


def _with_acquisition(results, acquisition):
    """The same results with other recording metadata (metadata.json's keys)."""
    metadata = {**results.metadata, "acquisition": acquisition}
    return ExtractionResults(
        results.frames, results.frames_mask, results.scalars, results.timestamps, metadata
    )


def test_unknown_start_time_is_a_clear_error(memory_results, tmp_path):
    results = _with_acquisition(memory_results, {"SubjectName": "m1"})
    with pytest.raises(ValueError, match="session_start_time"):
        results.to_nwb(tmp_path / "no_start.nwb", subject=SUBJECT)
    assert not any(tmp_path.iterdir())
    path = results.to_nwb(
        tmp_path / "start.nwb", subject=SUBJECT, session_start_time="2024-03-04T05:06:07+01:00"
    )
    with NWBHDF5IO(path, "r") as io:
        assert io.read().session_start_time.isoformat() == "2024-03-04T05:06:07+01:00"


@pytest.mark.parametrize(
    ("acquisition", "expected"),
    [
        # A RealSense bag's first frame (clock time), an Azure .mkv's creation time.
        ({"start_time": "2019-09-25T14:19:21.097661+00:00"}, "2019-09-25T14:19:21.097661+00:00"),
        ({"creation_time": "2020-08-31T15:20:37.000000Z"}, "2020-08-31T15:20:37+00:00"),
        # metadata.json comes first.
        (
            {"StartTime": "2017-01-25T10:42:07-05:00", "creation_time": "2020-08-31T15:20:37Z"},
            "2017-01-25T10:42:07-05:00",
        ),
    ],
)
def test_start_time_comes_from_the_recording(memory_results, tmp_path, acquisition, expected):
    results = _with_acquisition(memory_results, {**acquisition, "SubjectName": "m1"})
    path = results.to_nwb(tmp_path / "start.nwb", subject=SUBJECT)
    with NWBHDF5IO(path, "r") as io:
        assert io.read().session_start_time.isoformat() == expected


def test_a_start_time_that_is_not_a_date_says_whose_it_is(memory_results, tmp_path):
    with pytest.raises(ValueError, match="session_start_time 'yesterday' is not an ISO 8601"):
        memory_results.to_nwb(tmp_path / "a.nwb", subject=SUBJECT, session_start_time="yesterday")
    results = _with_acquisition(memory_results, {"StartTime": "soon"})
    with pytest.raises(ValueError, match="recording's start time 'soon' is not an ISO 8601"):
        results.to_nwb(tmp_path / "b.nwb", subject=SUBJECT)
    assert not any(tmp_path.iterdir())


def test_bad_arguments(memory_results, tmp_path):
    with pytest.raises(ValueError, match="include_raw_video"):
        memory_results.to_nwb(tmp_path / "a.nwb", subject=SUBJECT, include_raw_video="copy")
    with pytest.raises(ValueError, match="extractor="):
        memory_results.to_nwb(tmp_path / "a.nwb", subject=SUBJECT, include_raw_video="external")
    with pytest.raises(TypeError, match="subject must be"):
        memory_results.to_nwb(tmp_path / "a.nwb", subject="a mouse")
    with pytest.raises(FileNotFoundError, match="directory"):
        memory_results.to_nwb(tmp_path / "missing" / "a.nwb", subject=SUBJECT)
    assert not any(tmp_path.iterdir())
