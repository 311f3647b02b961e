import json
import pickle
import resource
import warnings

import numpy as np
import pytest

from depthextractors import CAMERA_PRESETS, RawDepthExtractor, open_depth_video
from depthextractors.extractors import read_timestamp_file
from depthextractors.testing import check_depth_extractor


def write_raw(path, video, dtype="<u2", timestamps_ms=None, metadata=None):
    video.astype(dtype).tofile(path)
    if timestamps_ms is not None:
        np.savetxt(
            path.with_name("depth_ts.txt"),
            np.column_stack([timestamps_ms, np.zeros(len(timestamps_ms))]),
            fmt="%.3f %d",
        )
    if metadata is not None:
        path.with_name("metadata.json").write_text(json.dumps(metadata))
    return path


@pytest.mark.parametrize("camera_name", sorted(CAMERA_PRESETS))
def test_every_camera_size_reads_back(tmp_path, camera_name):
    rows, cols = CAMERA_PRESETS[camera_name].image_size
    rng = np.random.default_rng(0)
    video = rng.integers(0, 4000, size=(3, rows, cols), dtype=np.uint16)
    path = write_raw(tmp_path / "depth.dat", video)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no timestamps: the 30 Hz assumption warns
        extractor = RawDepthExtractor(path, camera=camera_name)
    assert extractor.get_image_size() == (rows, cols)
    assert extractor.camera.name == camera_name
    np.testing.assert_array_equal(extractor.get_video(), video)


def test_session_with_timestamps_and_metadata(synthetic_kinect_session):
    session = synthetic_kinect_session
    extractor = RawDepthExtractor(session.depth_path)
    assert extractor.get_num_frames() == 120
    assert extractor.camera.name == "kinect_v2"
    np.testing.assert_allclose(extractor.get_timestamps(), session.truth.timestamps_ms / 1000.0)
    assert extractor.get_sampling_frequency() == pytest.approx(30.0, rel=0.01)
    assert extractor.get_metadata()["SessionName"] == session.metadata["SessionName"]
    gaps = np.flatnonzero(np.diff(extractor.get_timestamps()) > 0.05)
    np.testing.assert_array_equal(gaps, session.truth.dropped_after)


def test_conformance(synthetic_kinect_session):
    check_depth_extractor(RawDepthExtractor(synthetic_kinect_session.depth_path))


def test_big_endian(tmp_path):
    video = np.arange(2 * 424 * 512, dtype=np.uint16).reshape(2, 424, 512)
    path = write_raw(tmp_path / "depth.dat", video, dtype=">u2")
    extractor = RawDepthExtractor(path, dtype=">u2", sampling_frequency=30)
    np.testing.assert_array_equal(extractor.get_video(), video)
    assert extractor.get_video().dtype == np.uint16
    assert extractor.file_dtype == np.dtype(">u2")


def test_frame_size_from_metadata(tmp_path):
    video = np.ones((4, 576, 640), np.uint16)
    path = write_raw(tmp_path / "depth.dat", video, metadata={"DepthResolution": [640, 576]})
    extractor = RawDepthExtractor(path, sampling_frequency=30)
    assert extractor.get_image_size() == (576, 640)
    assert extractor.camera.name == "azure_nfov_unbinned"


@pytest.mark.parametrize(
    ("camera_type", "expected"),
    [
        ("realsense_d415_1280x720", "realsense_d415_1280x720"),
        ("realsense_d435_1280x720", "realsense_d435_1280x720"),
        ("kinect_v2", "realsense_d435_1280x720"),  # another size: detected from the size
        ("no such camera", "realsense_d435_1280x720"),
        (None, "realsense_d435_1280x720"),
    ],
)
def test_the_camera_named_in_metadata_is_used_where_the_size_does_not_tell(
    tmp_path, camera_type, expected
):
    """The D415's and D435's 1280x720 frames have fields of view 1.5 times apart: CameraType
    in metadata.json (which this project's writers and generator record) says which."""
    video = np.ones((2, 720, 1280), np.uint16)
    metadata = {"DepthResolution": [1280, 720]}
    if camera_type is not None:
        metadata["CameraType"] = camera_type
    path = write_raw(tmp_path / "depth.dat", video, metadata=metadata)
    assert RawDepthExtractor(path, sampling_frequency=30).camera.name == expected
    # A camera given is used as given.
    given = RawDepthExtractor(path, camera="realsense_d435_1280x720", sampling_frequency=30)
    assert given.camera.name == "realsense_d435_1280x720"


def test_frame_size_inferred_when_only_one_camera_fits(tmp_path):
    path = write_raw(tmp_path / "depth.dat", np.ones((1, 480, 848), np.uint16))
    extractor = RawDepthExtractor(path, sampling_frequency=30)
    assert extractor.get_image_size() == (480, 848)
    assert extractor.camera.family == "realsense"


def test_frame_size_ambiguous_is_an_error(tmp_path):
    # One 576x640 frame is also four 288x320 frames: both Azure modes fit.
    (tmp_path / "depth.dat").write_bytes(b"\0" * (576 * 640 * 2))
    with pytest.raises(ValueError, match="several cameras"):
        RawDepthExtractor(tmp_path / "depth.dat", sampling_frequency=30)


def test_explicit_frame_size_and_swapped_warning(tmp_path):
    video = np.ones((2, 424, 512), np.uint16)
    path = write_raw(tmp_path / "depth.dat", video)
    with pytest.warns(UserWarning, match=r"looks like the \(width, height\) of kinect_v2"):
        RawDepthExtractor(path, frame_size=(512, 424), sampling_frequency=30)
    extractor = RawDepthExtractor(path, frame_size=(424, 512), sampling_frequency=30)
    assert extractor.get_num_frames() == 2
    custom = RawDepthExtractor(path, frame_size=(212, 1024), sampling_frequency=30)
    assert custom.camera.name == "unknown"


def test_partial_frame_is_an_error_naming_byte_counts(tmp_path):
    path = tmp_path / "depth.dat"
    path.write_bytes(b"\1\0" * (424 * 512 * 2 + 10))
    with pytest.raises(
        ValueError,
        match=r"868372 bytes, which is 2 whole frames of 434176 bytes .* plus 20 extra bytes",
    ):
        RawDepthExtractor(path, camera="kinect", sampling_frequency=30)
    with pytest.warns(UserWarning, match="extra bytes are ignored"):
        extractor = RawDepthExtractor(
            path, camera="kinect", sampling_frequency=30, allow_partial_frame=True
        )
    assert extractor.get_num_frames() == 2
    assert extractor.get_video().shape == (2, 424, 512)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no depth file"):
        RawDepthExtractor(tmp_path / "nothing.dat")
    (tmp_path / "depth.dat").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        RawDepthExtractor(tmp_path / "depth.dat")
    (tmp_path / "small.dat").write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match="less than one frame"):
        RawDepthExtractor(tmp_path / "small.dat", camera="kinect_v2")
    with pytest.raises(IsADirectoryError, match="open_depth_video"):
        RawDepthExtractor(tmp_path)
    with pytest.raises(ValueError, match="16-bit unsigned"):
        RawDepthExtractor(tmp_path / "depth.dat", dtype="<i4")


def test_timestamp_count_mismatch_warns_with_both_numbers(tmp_path):
    video = np.ones((5, 424, 512), np.uint16)
    path = write_raw(tmp_path / "depth.dat", video, timestamps_ms=np.arange(7) * 33.3)
    with pytest.warns(UserWarning, match="has 7 timestamps but .* has 5 frames; the first 5"):
        extractor = RawDepthExtractor(path)
    np.testing.assert_allclose(extractor.get_timestamps(), np.arange(5) * 0.0333)
    write_raw(path, video, timestamps_ms=np.arange(3) * 33.3)
    with pytest.warns(
        UserWarning, match="has 3 timestamps but .* has 5 frames; frame times will be"
    ):
        extractor = RawDepthExtractor(path, sampling_frequency=30)
    assert not extractor.has_time_vector()


def test_malformed_timestamp_lines_are_repaired_one_by_one(tmp_path):
    """A bad line costs its own time only (issue 14: it used to replace every time)."""
    video = np.ones((3, 424, 512), np.uint16)
    path = write_raw(tmp_path / "depth.dat", video)
    (tmp_path / "depth_ts.txt").write_text("1000 0\nnot-a-number 0\n1066 0\n")
    with pytest.warns(UserWarning, match="1 of its 3 .*line 2 holds no number.*interpolated"):
        extractor = RawDepthExtractor(path, sampling_frequency=30)
    np.testing.assert_allclose(extractor.get_timestamps(), [1.0, 1.033, 1.066])
    assert extractor.timestamps_source == "depth_ts.txt"
    (tmp_path / "depth_ts.txt").write_text("1000 0\n900 0\n1066 0\n")
    with pytest.warns(UserWarning, match="line 2 goes backwards"):
        extractor = RawDepthExtractor(path, sampling_frequency=30)
    np.testing.assert_allclose(extractor.get_timestamps(), [1.0, 1.033, 1.066])


def test_malformed_metadata_warns(tmp_path):
    path = write_raw(tmp_path / "depth.dat", np.ones((1, 424, 512), np.uint16))
    (tmp_path / "metadata.json").write_text("{not json")
    with pytest.warns(UserWarning, match="could not read session metadata"):
        extractor = RawDepthExtractor(path, sampling_frequency=30)
    assert extractor.get_metadata() == {}


def test_sampling_frequency_from_timestamps_or_default(tmp_path):
    video = np.ones((4, 424, 512), np.uint16)
    path = write_raw(tmp_path / "depth.dat", video, timestamps_ms=[0, 40, 80, 120])
    assert RawDepthExtractor(path).get_sampling_frequency() == pytest.approx(25.0)
    assert RawDepthExtractor(path, sampling_frequency=50).get_sampling_frequency() == 50.0
    with pytest.raises(ValueError, match="positive"):
        RawDepthExtractor(path, sampling_frequency=-1)
    assert not RawDepthExtractor(
        path, timestamps_path=None, sampling_frequency=30
    ).has_time_vector()


def test_read_timestamp_file_formats(tmp_path):
    path = tmp_path / "ts.txt"
    path.write_text("10.5 0\n\n11.5,1\n12.5\t2\n")
    np.testing.assert_allclose(read_timestamp_file(path), [10.5, 11.5, 12.5])
    np.testing.assert_allclose(read_timestamp_file(path, column=1), [0, 1, 2])


def test_pickle_round_trip(synthetic_kinect_session):
    extractor = RawDepthExtractor(synthetic_kinect_session.depth_path)
    clone = pickle.loads(pickle.dumps(extractor))
    np.testing.assert_array_equal(clone.get_video(10, 12), extractor.get_video(10, 12))


def test_file_shrinking_after_open_is_detected(tmp_path):
    video = np.ones((4, 424, 512), np.uint16)
    path = write_raw(tmp_path / "depth.dat", video)
    extractor = RawDepthExtractor(path, sampling_frequency=30)
    with open(path, "r+b") as handle:
        handle.truncate(424 * 512 * 2 * 3)
    with pytest.raises(OSError, match="shrank"):
        extractor.get_video(2, 4)


def test_opening_a_20_gb_file_reads_nothing(tmp_path):
    """A sparse 20 GB file: opening and slicing is constant time and memory."""
    path = tmp_path / "depth.dat"
    frame_bytes = 424 * 512 * 2
    frames = 20 * 1024**3 // frame_bytes
    with open(path, "wb") as handle:
        handle.truncate(frames * frame_bytes)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extractor = RawDepthExtractor(path, sampling_frequency=30)
    view = extractor.frame_slice(frames - 1000, frames - 10)
    last = view.get_video(-2)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert extractor.get_num_frames() == frames
    assert last.shape == (2, 424, 512)
    assert (after - before) < 50 * 1024  # kilobytes: far below the file's 20 GB


def test_open_depth_video_on_file_and_directory(synthetic_kinect_session):
    by_file = open_depth_video(synthetic_kinect_session.depth_path)
    by_dir = open_depth_video(synthetic_kinect_session.directory)
    assert isinstance(by_dir, RawDepthExtractor)
    assert by_dir.file_path == by_file.file_path
