"""NWB export and import of extraction results (issues 6 and 16).

Results come from real extractions of small synthetic sessions (in memory and
``results_00.h5``-backed, one with dropped frames, one with a perfectly regular clock) and from
the real moseq2-extract ``results_00.h5`` when the shared data is present. Every exported file
must pass NWB Inspector (nothing at BEST_PRACTICE_VIOLATION or above but the unwrapped heading,
see :func:`inspect`), pynwb's validation, and read back into equal results. The DANDI checks
(the CLI, ``dandi organize`` / ``validate``, the Datta-lab reference file) are in
test_nwb_dandi.py.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest
from nwbinspector import Importance, inspect_nwbfile
from pynwb import NWBHDF5IO, NWBFile, validate
from pynwb.file import Subject

import depthextractors.io.nwb.streaming as nwb_streaming
from depthextractors import NumpyDepthExtractor, RawDepthExtractor, SessionExtraction
from depthextractors.extraction.flips import FlipCorrector, FlipDecision
from depthextractors.io import ExtractionResults, H5ResultsWriter, InMemoryResultsWriter
from depthextractors.io.results_h5 import LazyH5Array
from depthextractors.testing import generate_synthetic_session, synthesize_depth_video

REAL = Path(__file__).resolve().parents[2] / "shared/data/real"
SUBJECT = {"species": "Mus musculus", "age": "P12W", "sex": "M"}
NUM_FRAMES = 200  # > 80: NWB Inspector wants time to be the longest axis of (N, 80, 80)


class EveryNthFlip(FlipCorrector):
    """A flip corrector turning every 7th valid frame round (so flips are recorded).

    Its confidence is 0.6 on every 5th frame and 0.97 on the others, NaN where no animal (so a
    confidence with values and NaN is recorded).
    """

    def correct(self, context):
        index = context.start + np.arange(context.valid.size)
        confidence = np.where(index % 5 == 0, 0.6, 0.97).astype(np.float32)
        confidence[~context.valid] = np.nan
        return FlipDecision(flips=(index % 7 == 0) & context.valid, confidence=confidence)


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return generate_synthetic_session(tmp_path_factory.mktemp("nwb_session"), NUM_FRAMES, seed=3)


@pytest.fixture(scope="module")
def memory_results(session):
    # No flip corrector: the round trip of results without flips.
    extraction = SessionExtraction(RawDepthExtractor(session.depth_path), flip_corrector=None)
    return extraction.run(InMemoryResultsWriter(), chunk_size=64, progress=False)


@pytest.fixture(scope="module")
def h5_results(session, tmp_path_factory):
    extraction = SessionExtraction(
        RawDepthExtractor(session.depth_path), flip_corrector=EveryNthFlip()
    )
    return extraction.run(
        H5ResultsWriter(tmp_path_factory.mktemp("nwb_proc")), chunk_size=64, progress=False
    )


@pytest.fixture(scope="module")
def dropped_session(tmp_path_factory):
    return generate_synthetic_session(
        tmp_path_factory.mktemp("nwb_dropped"), NUM_FRAMES, dropped_frames=6, seed=4
    )


@pytest.fixture(scope="module")
def dropped_results(dropped_session, tmp_path_factory):
    extraction = SessionExtraction(RawDepthExtractor(dropped_session.depth_path))
    return extraction.run(
        H5ResultsWriter(tmp_path_factory.mktemp("nwb_dropped_proc")), progress=False
    )


@pytest.fixture(scope="module")
def regular_results():
    """An in-memory extraction of a numpy video without timestamps: a perfectly regular clock."""
    video, _ = synthesize_depth_video(150, seed=5)
    metadata = {"SubjectName": "numpy-mouse", "StartTime": "2026-02-03T04:05:06Z"}
    extractor = NumpyDepthExtractor(video, 30.0, metadata=metadata, camera="kinect_v2")
    return SessionExtraction(extractor).run(InMemoryResultsWriter(), progress=False)


@pytest.fixture(scope="module")
def exported(h5_results, tmp_path_factory):
    path = tmp_path_factory.mktemp("nwb_out") / "session.nwb"
    returned = h5_results.to_nwb(path, subject=SUBJECT)
    assert returned == path
    return path


# ------------------------------------------------------------------------------- helpers
def _unwrapped_heading(message) -> bool:
    """NWB Inspector's wish for radians within +-2 pi, on HeadOrientation and body_orientation:
    by design, they hold the unwrapped angle as the Datta-lab files do (so that its differences
    have no 2 pi jumps)."""
    return message.check_function_name == "check_spatial_series_radians_magnitude" and (
        message.location
        in (
            "/processing/behavior/CompassDirection/HeadOrientation",
            "/processing/behavior/CompassDirection/body_orientation",
        )
    )


def inspect(path: Path) -> list:
    """NWB Inspector messages at BEST_PRACTICE_VIOLATION or above (but the unwrapped heading);
    prints the others so a reader sees them."""
    messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    bar = Importance.BEST_PRACTICE_VIOLATION.value
    serious = [m for m in messages if m.importance.value >= bar and not _unwrapped_heading(m)]
    for message in messages:
        if message not in serious:  # shown with pytest -s: what a curator would still add
            text = f"{message.importance.name}: {message.check_function_name}: {message.message}"
            print(text)  # noqa: T201
    return serious


def assert_same_results(original, back, exact_times: bool = True):
    n = len(original)
    assert len(back) == n
    # Frames and masks exactly, read in slices (the backing arrays may be lazy).
    for start in range(0, n, 64):
        part = slice(start, min(start + 64, n))
        np.testing.assert_array_equal(back.frames[part], np.asarray(original.frames[part]))
        np.testing.assert_array_equal(
            back.frames_mask[part], np.asarray(original.frames_mask[part])
        )
    assert back.frames.dtype == original.frames.dtype
    assert back.frames_mask.dtype == original.frames_mask.dtype
    assert set(back.scalars) == set(original.scalars)
    for name in original.scalars:
        expected = np.asarray(original.scalars[name][:])
        got = np.asarray(back.scalars[name][:])
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)  # NaN == NaN here
    if exact_times:
        np.testing.assert_array_equal(back.timestamps, original.timestamps)
    else:
        np.testing.assert_allclose(back.timestamps, original.timestamps, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(back.roi, original.roi)
    assert back.roi.dtype == np.bool_
    np.testing.assert_array_equal(back.background, original.background)
    assert back.background.dtype == original.background.dtype
    np.testing.assert_array_equal(back.metadata["first_frame"], original.metadata["first_frame"])
    if original.flips is None:
        assert back.flips is None
    else:
        np.testing.assert_array_equal(back.flips, np.asarray(original.flips[:]))
    if original.flip_confidence is None:
        assert back.flip_confidence is None
    else:
        expected = np.asarray(original.flip_confidence[:])
        assert back.flip_confidence.dtype == expected.dtype == np.float32
        np.testing.assert_array_equal(back.flip_confidence, expected)  # NaN == NaN here
    assert back.true_depth == original.true_depth
    assert back.uuid == original.uuid
    assert back.parameters == original.parameters
    assert back.metadata["acquisition"] == original.metadata["acquisition"]
    assert back.dropped_frame_count == original.dropped_frame_count
    np.testing.assert_array_equal(back.dropped_after, original.dropped_after)


# ------------------------------------------------------------------------------- the bar
def test_inspector_validation_and_plain_read(exported):
    assert inspect(exported) == []
    assert validate(path=str(exported)) == []
    with NWBHDF5IO(exported, "r") as io:
        nwbfile = io.read()
        behavior = nwbfile.processing["behavior"]
        for name in ("processed_depth_video", "frames_mask", "Position", "CompassDirection",
                     "speed", "size", "body", "flipped_series", "flip_confidence", "valid",
                     "extraction_images", "extraction_parameters",
                     "extraction_metadata"):  # fmt: skip
            assert name in behavior.data_interfaces, name
        video = behavior["processed_depth_video"]
        assert video.unit == "millimeters"
        assert video.data.shape == (NUM_FRAMES, 80, 80)
        assert type(behavior["Position"]).__name__ == "Position"
        assert set(behavior["Position"].spatial_series) == {
            "SpatialSeries", "centroid_roi_px", "body_centroid_roi_px", "centroid_floor_mm",
        }  # fmt: skip
        assert behavior["Position"]["SpatialSeries"].data.shape == (NUM_FRAMES, 3)
        assert behavior["Position"]["centroid_floor_mm"].data.shape == (NUM_FRAMES, 2)
        assert type(behavior["CompassDirection"]).__name__ == "CompassDirection"
        assert behavior["CompassDirection"]["HeadOrientation"].unit == "radians"
        body_orientation = behavior["CompassDirection"]["body_orientation"]
        heading = behavior["CompassDirection"]["HeadOrientation"].data[:]
        turned = body_orientation.data[:] - heading
        assert np.nanmax(np.abs(turned)) <= np.pi / 2  # the body's axis, towards the heading
        assert set(behavior["body"].time_series) == {
            "body_length_px", "body_width_px", "body_area_px", "body_height_mean_mm",
            "body_length_mm", "body_width_mm", "body_area_mm2",
        }  # fmt: skip
        assert "other_scalars" not in behavior.data_interfaces  # every scalar has its place
        # Seconds from the session start: the recording's first frame is 0 s.
        assert video.timestamps[0] == 0.0
        images = behavior["extraction_images"].images
        assert {"background", "roi", "first_frame"} <= set(images)
        assert "kinect_v2" in nwbfile.devices
        assert video.device is nwbfile.devices["kinect_v2"]
        assert nwbfile.subject.subject_id == "synthetic-mouse-3"
        assert nwbfile.subject.species == "Mus musculus"
        assert nwbfile.session_start_time == datetime(2026, 1, 1, tzinfo=timezone.utc)
        assert "synthetic-round-3" in nwbfile.session_description


def test_frames_compressed_chunked_per_frame_and_timestamps_linked(exported):
    with h5py.File(exported, "r") as handle:
        behavior = handle["processing/behavior"]
        for name in ("processed_depth_video", "frames_mask"):
            data = behavior[name]["data"]
            assert data.chunks == (1, 80, 80), name
            assert data.compression == "gzip", name
        # One timestamps dataset; the other series link to it rather than copying it.
        timestamps = behavior["processed_depth_video/timestamps"]
        assert timestamps.shape == (NUM_FRAMES,)
        assert behavior["Position/SpatialSeries/timestamps"] == timestamps
        assert behavior["speed/velocity_2d_mm/timestamps"] == timestamps


def test_round_trip_h5_backed(h5_results, exported):
    back = ExtractionResults.from_nwb(exported)
    assert isinstance(back.frames, LazyH5Array)  # read lazily from the NWB file
    assert back.path == exported
    assert h5_results.metadata["software"] == back.metadata["software"] == "depthextractors"
    assert back.metadata["version"] == h5_results.metadata["version"]
    assert back.flips is not None
    assert back.flips.any()
    confidence = np.asarray(back.flip_confidence)
    assert set(np.unique(confidence[h5_results.valid])) == {np.float32(0.6), np.float32(0.97)}
    assert np.isnan(confidence[~h5_results.valid]).all()
    assert_same_results(h5_results, back)
    with h5py.File(exported, "r") as handle:
        series = handle["processing/behavior/flip_confidence"]
        assert series.attrs["neurodata_type"] == "TimeSeries"
        assert series["data"].attrs["unit"] == "n.a."
        assert "probability" in series.attrs["description"]


def test_round_trip_in_memory(memory_results, tmp_path):
    path = memory_results.to_nwb(tmp_path / "memory.nwb", subject=SUBJECT)
    assert inspect(path) == []
    back = ExtractionResults.from_nwb(path)
    assert memory_results.flips is None
    assert back.flips is None
    assert_same_results(memory_results, back)


def test_dropped_frames_keep_their_gaps(dropped_results, tmp_path):
    assert dropped_results.dropped_frame_count > 0
    path = dropped_results.to_nwb(tmp_path / "dropped.nwb", subject=SUBJECT)
    assert inspect(path) == []
    assert validate(path=str(path)) == []
    with NWBHDF5IO(path, "r") as io:
        video = io.read().processing["behavior"]["processed_depth_video"]
        assert video.rate is None  # real timestamps, not a rate that would hide the gaps
        times = np.asarray(video.timestamps[:])
    steps = np.diff(times)
    gaps = np.flatnonzero(steps > 1.5 * np.median(steps))
    np.testing.assert_array_equal(gaps, dropped_results.dropped_after)
    back = ExtractionResults.from_nwb(path)
    assert_same_results(dropped_results, back)


def test_regular_clock_is_written_as_a_rate(regular_results, tmp_path):
    path = regular_results.to_nwb(tmp_path / "regular.nwb", subject=SUBJECT)
    # Timestamps on a constant rate are a best-practice violation; the export writes a rate.
    assert inspect(path) == []
    with NWBHDF5IO(path, "r") as io:
        video = io.read().processing["behavior"]["processed_depth_video"]
        assert video.timestamps is None
        assert video.rate == pytest.approx(30.0)
        assert video.starting_time == 0.0  # the session start
    back = ExtractionResults.from_nwb(path)
    # A rate reproduces the clock to float rounding, not bit for bit.
    assert_same_results(regular_results, back, exact_times=False)


def test_head_orientation_is_the_unwrapped_angle(h5_results, exported):
    """As the Datta-lab files: HeadOrientation is moseq2's angle, unwrapped, so the published
    analysis code's diff() has no 2 pi jumps."""
    angle = np.asarray(h5_results.scalars["angle"][:])
    with NWBHDF5IO(exported, "r") as io:
        behavior = io.read().processing["behavior"]
        heading = np.asarray(behavior["CompassDirection"]["HeadOrientation"].data[:])
        direction = np.asarray(behavior["CompassDirection"]["movement_direction"].data[:])
    finite = np.isfinite(angle)
    assert finite.sum() > NUM_FRAMES // 2
    np.testing.assert_array_equal(heading, angle)
    assert np.ptp(heading[finite]) > 2 * np.pi  # the synthetic mouse turns round: unwrapped
    # No 2 pi wraps (the flips of EveryNthFlip turn the heading by pi).
    assert np.abs(np.diff(heading[finite])).max() < 1.5 * np.pi
    np.testing.assert_array_equal(direction, np.asarray(h5_results.scalars["velocity_theta"][:]))


# ------------------------------------------------------------------------------- streaming
class SpyFrames:
    """An array-like that records every read and refuses to be loaded whole."""

    def __init__(self, array: np.ndarray, fail_at: int | None = None) -> None:
        self._array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.reads: list[tuple[int, int]] = []
        self.fail_at = fail_at

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        first = key[0] if isinstance(key, tuple) else key
        if not isinstance(first, slice):
            raise AssertionError(f"unexpected read {key!r}")
        start, stop, _ = first.indices(self.shape[0])
        self.reads.append((start, stop))
        if self.fail_at is not None and start <= self.fail_at < stop:
            raise OSError("disk read failed (simulated)")
        return self._array[key]

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole array was loaded")


def _spied(results, fail_at=None):
    frames = SpyFrames(np.asarray(results.frames[:]), fail_at)
    masks = SpyFrames(np.asarray(results.frames_mask[:]))
    spied = ExtractionResults(
        frames, masks, results.scalars, results.timestamps, results.metadata, results.flips
    )
    return spied, frames, masks


def test_frames_are_streamed_a_buffer_at_a_time(memory_results, tmp_path, monkeypatch):
    monkeypatch.setattr(nwb_streaming, "BUFFER_FRAMES", 50)
    spied, frames, masks = _spied(memory_results)
    path = spied.to_nwb(tmp_path / "streamed.nwb", subject=SUBJECT)
    for spy in (frames, masks):
        assert spy.reads, "nothing was read"
        assert max(stop - start for start, stop in spy.reads) <= 50
        covered = np.zeros(NUM_FRAMES, dtype=int)
        for start, stop in spy.reads:
            covered[start:stop] += 1
        assert np.all(covered == 1)  # every frame read once, none held twice
    assert_same_results(memory_results, ExtractionResults.from_nwb(path))


def test_failed_export_leaves_no_file(memory_results, tmp_path, monkeypatch):
    monkeypatch.setattr(nwb_streaming, "BUFFER_FRAMES", 50)
    spied, _, _ = _spied(memory_results, fail_at=120)
    path = tmp_path / "failed.nwb"
    with pytest.raises(OSError, match="simulated"):
        spied.to_nwb(path, subject=SUBJECT)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- raw video
def test_raw_video_external_is_a_linked_lossless_ffv1_avi(memory_results, session, tmp_path):
    """A raw depth.dat is converted to FFV1 .avi beside the NWB file (DANDI refuses .dat), in a
    folder named after it as `dandi organize` places videos."""
    from depthextractors import open_depth_video

    extractor = RawDepthExtractor(session.depth_path)
    path = memory_results.to_nwb(
        tmp_path / "external.nwb", subject=SUBJECT, include_raw_video="external",
        extractor=extractor,
    )  # fmt: skip
    # An external file that does not resolve from the NWB file would be CRITICAL.
    assert inspect(path) == []
    with NWBHDF5IO(path, "r") as io:
        raw = io.read().acquisition["depth_video"]
        (reference,) = raw.external_file[:]
        assert reference == "external/depth.avi"
        times = np.asarray(raw.get_timestamps())
    np.testing.assert_array_equal(times, extractor.get_timestamps() - extractor.get_timestamps()[0])
    video = open_depth_video(tmp_path / reference)
    assert type(video).__name__ == "FFV1DepthExtractor"
    np.testing.assert_array_equal(
        video.get_video(0, NUM_FRAMES), extractor.get_video(0, NUM_FRAMES)
    )
    # An FFV1 .avi recording is linked as it is, not converted again.
    again = memory_results.to_nwb(
        tmp_path / "again.nwb", subject=SUBJECT, include_raw_video="external", extractor=video,
    )  # fmt: skip
    assert not (tmp_path / "again").exists()
    with NWBHDF5IO(again, "r") as io:
        assert io.read().acquisition["depth_video"].external_file[:][0] == "external/depth.avi"


def test_a_failed_export_removes_the_converted_video(memory_results, session, tmp_path):
    spied, _, _ = _spied(memory_results, fail_at=120)
    with pytest.raises(OSError, match="simulated"):
        spied.to_nwb(
            tmp_path / "failed.nwb", subject=SUBJECT, include_raw_video="external",
            extractor=RawDepthExtractor(session.depth_path),
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_raw_video_embedded(memory_results, session, tmp_path):
    extractor = RawDepthExtractor(session.depth_path)
    path = memory_results.to_nwb(
        tmp_path / "embedded.nwb", subject=SUBJECT, include_raw_video="embedded",
        extractor=extractor,
    )  # fmt: skip
    # The one exception: NWB Inspector guesses the time axis is the longest, and this 200-frame
    # clip is shorter than the frame's 512 columns (a real session has thousands of frames).
    serious = inspect(path)
    assert [
        m
        for m in serious
        if not (
            m.check_function_name == "check_data_orientation"
            and m.location == "/acquisition/depth_video"
        )
    ] == []
    assert validate(path=str(path)) == []
    with h5py.File(path, "r") as handle:
        data = handle["acquisition/depth_video/data"]
        assert data.chunks == (1, *extractor.get_image_size())
        np.testing.assert_array_equal(data[:40], extractor.get_video(0, 40))
        np.testing.assert_array_equal(data[-5:], extractor.get_video(NUM_FRAMES - 5, NUM_FRAMES))
        # The raw video shares the processed video's timestamps.
        assert (
            handle["acquisition/depth_video/timestamps"]
            == handle["processing/behavior/processed_depth_video/timestamps"]
        )


def test_add_to_an_nwbfile(memory_results, tmp_path):
    nwbfile = NWBFile(
        session_description="with other data",
        identifier="combined",
        session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        subject=Subject(subject_id="m1", species="Mus musculus", age="P10W", sex="M"),
    )
    assert memory_results.to_nwb(nwbfile) is nwbfile
    with pytest.warns(UserWarning, match="subject ignored"):
        memory_results.to_nwb(NWBFile("x", "y", datetime.now(timezone.utc)), subject=SUBJECT)
    path = tmp_path / "combined.nwb"
    with NWBHDF5IO(path, "w") as io:
        io.write(nwbfile)
    assert inspect(path) == []
    assert_same_results(memory_results, ExtractionResults.from_nwb(path))


def test_float_masks_of_the_em_tracker_round_trip(memory_results, tmp_path):
    rng = np.random.default_rng(0)
    loglikelihood = rng.normal(-5, 3, memory_results.frames.shape).astype(np.float32)
    results = ExtractionResults(
        memory_results.frames, loglikelihood, memory_results.scalars,
        memory_results.timestamps, memory_results.metadata,
    )  # fmt: skip
    path = results.to_nwb(tmp_path / "em.nwb", subject=SUBJECT)
    back = ExtractionResults.from_nwb(path)
    assert back.frames_mask.dtype == np.float32
    np.testing.assert_array_equal(back.frames_mask[:], loglikelihood)


def test_from_nwb_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no NWB file"):
        ExtractionResults.from_nwb(tmp_path / "absent.nwb")


def test_to_nwb_needs_no_backend_to_be_registered(h5_results, tmp_path):
    """There is no NWB backend registry to forget: results read in a fresh process that has
    not imported depthextractors.io.nwb write NWB directly."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from depthextractors.io import read_results\n"
        "assert 'depthextractors.io.nwb' not in sys.modules\n"
        "subject = {'species': 'Mus musculus', 'age': 'P12W', 'sex': 'M'}\n"
        "read_results(sys.argv[1]).to_nwb(sys.argv[2], subject=subject)\n"
    )
    path = tmp_path / "x.nwb"
    subprocess.run([sys.executable, "-c", script, str(h5_results.path), str(path)], check=True)
    assert_same_results(h5_results, ExtractionResults.from_nwb(path))


# ------------------------------------------------------------------------------- real data
def _reference_nwb() -> Path:
    files = sorted((REAL / "nwb_reference").glob("*.nwb")) if REAL.is_dir() else []
    if not files:
        pytest.skip(f"the real Datta-lab NWB file is absent ({REAL / 'nwb_reference'})")
    return files[0]


def test_layout_mirrors_the_datta_lab_files(exported):
    reference = _reference_nwb()
    with h5py.File(reference, "r") as ref, h5py.File(exported, "r") as ours:
        ref_behavior, our_behavior = ref["processing/behavior"], ours["processing/behavior"]
        for name in ("Position", "CompassDirection"):
            assert (
                our_behavior[name].attrs["neurodata_type"]
                == ref_behavior[name].attrs["neurodata_type"]
            )
        for series in ("Position/SpatialSeries", "CompassDirection/HeadOrientation"):
            assert our_behavior[series].attrs["neurodata_type"] == "SpatialSeries"
            assert ref_behavior[series].attrs["neurodata_type"] == "SpatialSeries"
        ref_position = ref_behavior["Position/SpatialSeries/data"]
        our_position = our_behavior["Position/SpatialSeries/data"]
        assert our_position.shape[1] == ref_position.shape[1] == 3  # x, y, height
        assert our_position.dtype == ref_position.dtype == np.float32
        assert ref_position.attrs["unit"] == "mm"
        assert our_position.attrs["unit"] == "millimeters"  # NWB Inspector's spelling of mm
        ref_heading = ref_behavior["CompassDirection/HeadOrientation/data"]
        our_heading = our_behavior["CompassDirection/HeadOrientation/data"]
        assert ref_heading.attrs["unit"] == our_heading.attrs["unit"] == "radians"
        # Both unwrapped: no 2 pi jumps between frames (ours turns by pi where flipped).
        for heading in (ref_heading[:], our_heading[:]):
            assert np.nanmax(np.abs(np.diff(heading))) < 1.5 * np.pi
        assert our_behavior.attrs["neurodata_type"] == ref_behavior.attrs["neurodata_type"]


def test_from_nwb_refuses_a_file_without_moseq_results(tmp_path):
    path = tmp_path / "other.nwb"
    nwbfile = NWBFile("x", "y", datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwbfile.create_processing_module("behavior", "something else")
    with NWBHDF5IO(path, "w") as io:
        io.write(nwbfile)
    with pytest.raises(ValueError, match="no MoSeq results in processing/behavior"):
        ExtractionResults.from_nwb(path)


def _real_moseq2_results() -> ExtractionResults:
    """The real moseq2-extract results, read directly with h5py.

    ``read_results`` expects ``metadata/extraction/first_frame_idx``, which moseq2-extract 0.1.3
    did not write, so the fields are read here.
    """
    path = REAL / "moseq2_kinect_session" / "results_00.h5"
    if not path.is_file():
        pytest.skip(f"the real moseq2 session is absent ({path})")
    with h5py.File(path, "r") as handle:
        extraction = handle["metadata/extraction"]
        acquisition = {}
        for key, dataset in handle["metadata/acquisition"].items():
            value = dataset[()]
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, np.generic):
                value = value.item()
            acquisition[key] = value
        metadata = {
            "uuid": handle["metadata/uuid"][()].decode(),
            "true_depth": float(extraction["true_depth"][()]),
            "roi": extraction["roi"][()],
            "background": extraction["background"][()],
            "first_frame": extraction["first_frame"][()],
            "acquisition": acquisition,
        }
        scalars = {name: dataset[()] for name, dataset in handle["scalars"].items()}
        timestamps = handle["timestamps"][()] / 1000.0
    return ExtractionResults(
        LazyH5Array(path, "frames"), LazyH5Array(path, "frames_mask"), scalars, timestamps,
        metadata,
    )  # fmt: skip


def test_real_moseq2_results(tmp_path):
    results = _real_moseq2_results()
    path = results.to_nwb(tmp_path / "real.nwb", subject={**SUBJECT, "age": "P8W/P15W"})
    assert inspect(path) == []
    assert validate(path=str(path)) == []
    back = ExtractionResults.from_nwb(path)
    assert_same_results(results, back)
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        # metadata.json's 7-digit fraction and UTC offset survive.
        assert nwbfile.session_start_time.isoformat() == "2017-01-25T10:42:07.173469-05:00"
        assert nwbfile.subject.subject_id == "blackStockOFA80GritSanded_012517"
        # Seconds from the session start, not the camera clock's 7.7 days (from_nwb gives the
        # camera clock back: assert_same_results compared the timestamps exactly).
        video = nwbfile.processing["behavior"]["processed_depth_video"]
        assert video.timestamps[0] == 0.0
        assert video.timestamps[-1] < 60
