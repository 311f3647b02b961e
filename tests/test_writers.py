"""Writers: raw -> FFV1 .avi (verified), convert_raw_to_avi, copy_frame_range."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from depthextractors import (
    CameraModel,
    FFV1DepthExtractor,
    NumpyDepthExtractor,
    RawDepthExtractor,
    open_depth_video,
)
from depthextractors.extractors import writers
from depthextractors.extractors.writers import (
    convert_raw_to_avi,
    copy_frame_range,
    write_ffv1_video,
)
from depthextractors.testing import check_depth_extractor, generate_synthetic_session

SMALL_CAMERA = CameraModel("test_64x80", "kinect", (64, 80), (70.6, 60.0))


@pytest.fixture(scope="module")
def kinect_session(tmp_path_factory):
    """60 real-size Kinect frames with jittered timestamps and one dropped frame."""
    return generate_synthetic_session(
        tmp_path_factory.mktemp("session"), 60, dropped_frames=1, seed=21
    )


@pytest.fixture
def session_copy(kinect_session, tmp_path) -> Path:
    directory = tmp_path / "session"
    shutil.copytree(kinect_session.directory, directory)
    return directory


class CountingExtractor(NumpyDepthExtractor):
    """Records the size of every read, to show the writers read in bounded chunks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_sizes: list[int] = []

    def get_video(self, start_frame=None, end_frame=None):
        self.read_sizes.append(end_frame - start_frame)
        return super().get_video(start_frame, end_frame)


# ------------------------------------------------------------------------------ raw -> avi
def test_convert_raw_to_avi_is_bit_exact_with_times(session_copy):
    raw = RawDepthExtractor(session_copy / "depth.dat")
    output = convert_raw_to_avi(session_copy, progress=False)
    assert output == session_copy / "depth.avi"
    video = open_depth_video(output)
    assert isinstance(video, FFV1DepthExtractor)
    assert np.array_equal(video.get_video(), raw.get_video())
    # depth.avi uses the session's depth_ts.txt: the jittered device times and the gap survive.
    np.testing.assert_allclose(video.get_timestamps(), raw.get_timestamps(), rtol=0, atol=1e-9)
    assert video.camera.name == "kinect_v2"
    assert video.get_metadata() == raw.get_metadata()
    assert (session_copy / "depth.dat").exists()
    assert not list(session_copy.glob(".*partial"))


def test_avi_elsewhere_gets_its_own_timestamp_file(kinect_session, tmp_path):
    raw = RawDepthExtractor(kinect_session.depth_path)
    output = write_ffv1_video(raw, tmp_path / "copy.avi", progress=False)
    timestamps_file = tmp_path / "copy_ts.txt"
    assert timestamps_file.is_file()
    video = FFV1DepthExtractor(output)
    np.testing.assert_allclose(video.get_timestamps(), raw.get_timestamps(), rtol=0, atol=1e-9)
    # Without the file, times are the stream's: frame index over the frame rate.
    bare = FFV1DepthExtractor(output, timestamps_path=None)
    np.testing.assert_allclose(bare.get_timestamps(), np.arange(60) / raw.get_sampling_frequency())
    assert json.loads((tmp_path / "metadata.json").read_text())["CameraType"] == "kinect_v2"


def test_convert_and_delete_removes_raw_only_after_verification(session_copy, monkeypatch):
    frames = RawDepthExtractor(session_copy / "depth.dat").get_video()

    def corrupted(source, written, path, chunk_size):
        raise OSError(f"verification of {path} failed: frame 3 differs from the source")

    monkeypatch.setattr(writers, "_compare_with_source", corrupted)
    with pytest.raises(OSError, match="frame 3 differs"):
        convert_raw_to_avi(session_copy / "depth.dat", delete=True, progress=False)
    assert (session_copy / "depth.dat").exists()
    assert not (session_copy / "depth.avi").exists()
    assert not list(session_copy.glob(".*partial"))

    monkeypatch.undo()
    output = convert_raw_to_avi(session_copy / "depth.dat", delete=True, progress=False)
    assert not (session_copy / "depth.dat").exists()
    assert (session_copy / "depth_ts.txt").exists()
    assert np.array_equal(FFV1DepthExtractor(output).get_video(), frames)


class ChangedAfterEncoding(NumpyDepthExtractor):
    """Reads one pixel differently once its frames were encoded: what a writer or a disk that
    changed the data looks like to the read-back."""

    encoded = False

    def iter_chunks(self, *args, **kwargs):
        yield from super().iter_chunks(*args, **kwargs)
        self.encoded = True

    def get_video(self, start_frame=None, end_frame=None):
        video = super().get_video(start_frame, end_frame)
        if self.encoded:
            video = video.copy()
            video[0, 0, 0] += 1
        return video


def test_verification_really_compares(tmp_path):
    """A file that differs from the source by one pixel must be caught, and nothing kept."""
    video = np.full((5, 64, 80), 800, dtype=np.uint16)
    source = ChangedAfterEncoding(video, 30.0, camera=SMALL_CAMERA)
    with pytest.raises(OSError, match=r"verification of .*bad\.avi failed: frame 0 differs"):
        write_ffv1_video(source, tmp_path / "bad.avi", progress=False)
    assert source.encoded
    assert list(tmp_path.iterdir()) == []


def test_chunked_reads_bound_memory(tmp_path):
    video = np.random.default_rng(0).integers(500, 900, (95, 64, 80), dtype=np.uint16)
    source = CountingExtractor(video, 30.0, camera=SMALL_CAMERA)
    write_ffv1_video(source, tmp_path / "depth.avi", chunk_size=20, progress=False)
    assert max(source.read_sizes) <= 20
    assert np.array_equal(FFV1DepthExtractor(tmp_path / "depth.avi").get_video(), video)


@pytest.mark.parametrize("threads", [1, 2])
def test_encoder_threads_are_lossless(tmp_path, threads):
    video = np.random.default_rng(threads).integers(0, 65535, (12, 64, 80), dtype=np.uint16)
    source = NumpyDepthExtractor(video, 30.0, camera=SMALL_CAMERA)
    output = write_ffv1_video(source, tmp_path / "depth.avi", threads=threads, progress=False)
    assert np.array_equal(FFV1DepthExtractor(output).get_video(), video)


def test_progress_bar(tmp_path, capsys):
    source = NumpyDepthExtractor(np.zeros((4, 64, 80), np.uint16), 30.0, camera=SMALL_CAMERA)
    write_ffv1_video(source, tmp_path / "depth.avi", progress=True)
    assert "4/4" in capsys.readouterr().err


def test_refuses_to_overwrite(tmp_path, kinect_session):
    raw = RawDepthExtractor(kinect_session.depth_path)
    target = tmp_path / "depth.avi"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match=r"depth\.avi exists"):
        write_ffv1_video(raw, target, progress=False)
    assert target.read_bytes() == b"precious"
    # Timestamps of another recording beside the target are never replaced silently.
    (tmp_path / "clip_ts.txt").write_text("1\n2\n3\n")
    with pytest.raises(FileExistsError, match=r"clip_ts\.txt exists and holds other timestamps"):
        write_ffv1_video(raw, tmp_path / "clip.avi", progress=False)
    assert not (tmp_path / "clip.avi").exists()
    write_ffv1_video(raw, target, progress=False, overwrite=True)
    assert np.array_equal(FFV1DepthExtractor(target).get_video(0, 3), raw.get_video(0, 3))


def test_bad_arguments(tmp_path):
    source = NumpyDepthExtractor(np.zeros((2, 64, 80), np.uint16), 30.0, camera=SMALL_CAMERA)
    with pytest.raises(ValueError, match=r"\.avi, \.mkv, \.nut"):
        write_ffv1_video(source, tmp_path / "depth.mp4", progress=False)
    with pytest.raises(ValueError, match="chunk_size"):
        write_ffv1_video(source, tmp_path / "depth.avi", chunk_size=0, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_ffv1_video(source, tmp_path / "missing" / "depth.avi", progress=False)


# ------------------------------------------------------------------------------ copy range
def test_copy_frame_range_to_raw_session(kinect_session, tmp_path):
    source = RawDepthExtractor(kinect_session.depth_path)
    target = tmp_path / "clip" / "depth.dat"
    target.parent.mkdir()
    copy_frame_range(source, target, 10, 35, progress=False)
    copy = RawDepthExtractor(target)
    assert np.array_equal(copy.get_video(), source.get_video(10, 35))
    np.testing.assert_allclose(copy.get_timestamps(), source.get_timestamps(10, 35), atol=1e-9)
    metadata = json.loads((tmp_path / "clip" / "metadata.json").read_text())
    assert metadata["DepthResolution"] == [512, 424]
    assert metadata["SubjectName"] == source.get_metadata()["SubjectName"]
    check_depth_extractor(copy, source.get_video(10, 35))


def test_copy_frame_range_of_non_kinect_size_to_raw(tmp_path):
    video = np.random.default_rng(4).integers(300, 3000, (6, 288, 320), dtype=np.uint16)
    times = 5.0 + np.array([0.0, 0.033, 0.067, 0.133, 0.167, 0.2])
    source = NumpyDepthExtractor(video, 30.0, timestamps=times)
    path = copy_frame_range(source, tmp_path / "depth.dat", 1, None, progress=False)
    copy = RawDepthExtractor(path)  # frame size from metadata.json, not guessed
    assert copy.get_image_size() == (288, 320)
    assert copy.camera.name == "azure_nfov_binned"
    assert np.array_equal(copy.get_video(), video[1:])
    np.testing.assert_allclose(copy.get_timestamps(), times[1:], atol=1e-9)


def test_copy_frame_range_to_avi_from_any_extractor(tmp_path):
    """Azure-like source (numpy here) to FFV1, negative end, times kept in the sidecar."""
    video = np.random.default_rng(5).integers(300, 3000, (40, 64, 80), dtype=np.uint16)
    times = 100.0 + np.cumsum(np.full(40, 1 / 30))
    source = NumpyDepthExtractor(video, 30.0, timestamps=times, camera=SMALL_CAMERA)
    path = copy_frame_range(source, tmp_path / "slice.avi", 5, -5, progress=False)
    copy = open_depth_video(path)
    assert np.array_equal(copy.get_video(), video[5:-5])
    np.testing.assert_allclose(copy.get_timestamps(), times[5:-5], atol=1e-9)


def test_copy_frame_range_refuses_bad_requests(tmp_path):
    source = NumpyDepthExtractor(np.zeros((10, 64, 80), np.uint16), 30.0, camera=SMALL_CAMERA)
    with pytest.raises(ValueError, match="empty range"):
        copy_frame_range(source, tmp_path / "a.avi", 5, 5, progress=False)
    with pytest.raises(ValueError, match=r"use \.dat"):
        copy_frame_range(source, tmp_path / "a.tiff", 0, 5, progress=False)
    with pytest.raises(ValueError, match="must not be after"):
        copy_frame_range(source, tmp_path / "a.avi", 6, 2, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_camera_travels_in_the_container_tags(tmp_path):
    """D415 and D435 frames have the same size; the .mkv tag keeps which camera it was."""
    from depthextractors import CAMERA_PRESETS

    d415 = CAMERA_PRESETS["realsense_d415_640x480"]
    source = NumpyDepthExtractor(np.full((3, 480, 640), 900, np.uint16), 30.0, camera=d415)
    for name in ("depth.mkv", "depth.avi"):
        path = write_ffv1_video(source, tmp_path / name, progress=False)
        assert FFV1DepthExtractor(path).camera.name == "realsense_d415_640x480"
        assert FFV1DepthExtractor(path, camera="realsense").camera.name == "realsense_d435_640x480"
