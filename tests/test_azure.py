"""AzureDepthExtractor: Azure Kinect recordings (.mkv) and .mkv dispatch.

The multi-frame Azure-like fixtures are written by the small EBML writer in
``depthextractors.testing.matroska`` (libavformat's muxer cannot write the recorder's ``b16g``
tracks or microsecond time base). Opening indexes the DEPTH/IR blocks directly; the PyAV
demuxing path (the fallback for layouts the block scanner does not handle) is checked against it.
"""

from __future__ import annotations

import pickle
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from depthextractors import CameraModel, open_depth_video
from depthextractors.extractors.azure import AzureDepthExtractor
from depthextractors.extractors.ffv1 import FFV1DepthExtractor
from depthextractors.testing import check_depth_extractor
from depthextractors.testing.matroska import (
    AZURE_CALIBRATION,
    AZURE_START_OFFSET_NS,
    FRAME_INTERVAL_US,
    mjpeg_frame,
    write_azure_like_mkv,
)

REAL_DATA = Path(__file__).resolve().parents[2] / "shared/data/real"
REAL_RECORDING = REAL_DATA / "azure_kinect/recording.mkv"

ROWS, COLS = 48, 64  # small frames keep the fixtures fast; the real file covers 576x640
CALIBRATION = AZURE_CALIBRATION
START_OFFSET_NS = AZURE_START_OFFSET_NS


def _depth_video(frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Values above 255 in both bytes catch a byte-order mistake.
    return rng.integers(300, 4000, size=(frames, ROWS, COLS), dtype=np.uint16)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    depth = _depth_video(90)
    ir = _depth_video(90, seed=1) // 3
    path = tmp_path_factory.mktemp("azure") / "recording.mkv"
    write_azure_like_mkv(path, depth, ir)
    return path, depth, ir


# ------------------------------------------------------------------------------ tests
def test_fixture_is_azure_like(recording):
    """The fixture has what the reader relies on: titles, b16g, microsecond time base."""
    path, _, _ = recording
    with av.open(str(path)) as container:
        titles = [s.metadata.get("title") for s in container.streams.video]
        depth = container.streams.video[1]
        assert titles == ["COLOR", "DEPTH", "IR"]
        assert depth.codec_context.pix_fmt == "gray16be"
        assert depth.time_base == Fraction(1, 1_000_000)


def test_conformance_and_values(recording):
    path, depth, _ = recording
    extractor = AzureDepthExtractor(path)
    assert extractor.get_image_size() == (ROWS, COLS)
    check_depth_extractor(extractor, depth)


def test_ir_track_on_request(recording):
    path, depth, ir = recording
    extractor = AzureDepthExtractor(path, track="IR")
    assert np.array_equal(extractor.get_video(), ir)
    assert not np.array_equal(extractor.get_video(0, 1), depth[:1])


def test_device_timestamps_and_rate(recording):
    path, depth, _ = recording
    extractor = AzureDepthExtractor(path)
    expected = np.arange(depth.shape[0]) * FRAME_INTERVAL_US / 1e6 + START_OFFSET_NS / 1e9
    np.testing.assert_allclose(extractor.get_timestamps(), expected, rtol=0, atol=1e-9)
    assert extractor.get_sampling_frequency() == pytest.approx(1e6 / FRAME_INTERVAL_US, rel=1e-3)
    assert extractor.missing_frames == 0


def test_metadata_calibration_and_camera(tmp_path):
    path = write_azure_like_mkv(tmp_path / "rec.mkv", _depth_video(3), depth_mode="NFOV_2X2BINNED")
    with pytest.warns(UserWarning, match="K4A_DEPTH_MODE NFOV_2X2BINNED means"):
        extractor = AzureDepthExtractor(path)
    metadata = extractor.get_metadata()
    assert metadata["calibration"] == CALIBRATION
    assert metadata["K4A_START_OFFSET_NS"] == str(START_OFFSET_NS)
    assert metadata["depth_mode"] == "NFOV_2X2BINNED"
    assert metadata["tracks"]["DEPTH"]["K4A_DEPTH_MODE"] == "NFOV_2X2BINNED"
    # The tag says 288x320 but the fixture's frames are 48x64: the frame size wins, loudly.
    assert extractor.camera.name == "unknown"
    rig = CameraModel("rig", "azure", (ROWS, COLS), (75.0, 65.0))
    assert AzureDepthExtractor(path, camera=rig).camera is rig


@pytest.mark.parametrize(
    ("mode", "preset", "shape"),
    [
        ("NFOV_2X2BINNED", "azure_nfov_binned", (288, 320)),
        ("WFOV_2X2BINNED", "azure_wfov_binned", (512, 512)),
    ],
)
def test_camera_from_depth_mode(tmp_path, mode, preset, shape):
    depth = np.full((2, *shape), 900, dtype=np.uint16)
    path = write_azure_like_mkv(tmp_path / "rec.mkv", depth, depth_mode=mode)
    extractor = AzureDepthExtractor(path)
    assert extractor.camera.name == preset
    assert AzureDepthExtractor(path, camera=extractor.camera).camera.name == preset


def test_random_access_matches_sequential(recording):
    path, depth, _ = recording
    extractor = AzureDepthExtractor(path)
    sequential = np.concatenate([c.frames for c in extractor.iter_chunks(17)])
    assert np.array_equal(sequential, depth)
    picks = np.random.default_rng(3).integers(0, depth.shape[0], 40)
    fresh = AzureDepthExtractor(path)
    for index in picks:
        assert np.array_equal(fresh.get_video(int(index), int(index) + 1)[0], depth[index])


def test_pickled_extractor_reads_same_frames(recording):
    path, depth, _ = recording
    extractor = AzureDepthExtractor(path)
    extractor.get_video(0, 5)  # opens the container, which must not be pickled
    clone = pickle.loads(pickle.dumps(extractor))
    assert np.array_equal(clone.get_video(5, 9), depth[5:9])


def test_leading_dropped_depth_frames(tmp_path):
    """Depth starts three captures after colour and IR: frame 0 is the first depth frame."""
    depth = _depth_video(20, seed=4)
    captures = np.arange(23, dtype=np.int64) * FRAME_INTERVAL_US
    path = write_azure_like_mkv(
        tmp_path / "late.mkv", depth, depth_times_us=captures[3:], capture_times_us=captures
    )
    extractor = AzureDepthExtractor(path)
    assert extractor.get_num_frames() == 20
    assert extractor.leading_dropped_frames == 3
    assert np.array_equal(extractor.get_video(), depth)
    assert extractor.get_timestamps()[0] == pytest.approx(captures[3] / 1e6 + START_OFFSET_NS / 1e9)
    # The IR track, complete, still has all 23 captures.
    assert AzureDepthExtractor(path, track="IR").get_num_frames() == 23


def test_dropped_frames_in_the_middle_warn(tmp_path):
    depth = _depth_video(20, seed=5)
    captures = np.arange(24, dtype=np.int64) * FRAME_INTERVAL_US
    kept = np.delete(captures, [7, 8, 15, 16])
    path = write_azure_like_mkv(
        tmp_path / "gaps.mkv", depth, depth_times_us=kept, capture_times_us=captures
    )
    with pytest.warns(UserWarning, match=r"2 gaps \(about 4 dropped frames"):
        extractor = AzureDepthExtractor(path)
    assert extractor.get_num_frames() == 20
    assert extractor.missing_frames == 4
    assert np.array_equal(extractor.get_frames([6, 7, 13, 14]), depth[[6, 7, 13, 14]])
    np.testing.assert_allclose(np.diff(extractor.get_timestamps())[6], 3 * FRAME_INTERVAL_US / 1e6)


def test_truncated_last_depth_frame(tmp_path):
    depth = _depth_video(10, seed=6)
    path = write_azure_like_mkv(tmp_path / "cut.mkv", depth, truncate_last_depth_by=100)
    with pytest.raises(ValueError, match=r"cut\.mkv: DEPTH frame 9 is .*truncated"):
        AzureDepthExtractor(path)
    with pytest.warns(UserWarning, match="reading the 9 frames"):
        extractor = AzureDepthExtractor(path, allow_truncated=True)
    assert np.array_equal(extractor.get_video(), depth[:9])


def test_truncated_file(tmp_path):
    depth = _depth_video(10, seed=7)
    path = write_azure_like_mkv(tmp_path / "whole.mkv", depth)
    cut = tmp_path / "cut.mkv"
    data = path.read_bytes()
    # Cut inside the last capture's depth frame (the IR frame after it is lost too).
    cut.write_bytes(data[: len(data) - ROWS * COLS * 2 - ROWS * COLS])
    with pytest.raises(ValueError, match=r"cut\.mkv holds \d+ bytes but its Matroska header says"):
        AzureDepthExtractor(cut)
    with pytest.warns(UserWarning, match="truncated"):
        extractor = AzureDepthExtractor(cut, allow_truncated=True)
    assert np.array_equal(extractor.get_video(), depth[:9])


def test_no_depth_track(tmp_path):
    depth = _depth_video(3)
    path = write_azure_like_mkv(tmp_path / "nodepth.mkv", depth, depth_title="POINTS")
    with pytest.raises(ValueError, match=r"nodepth\.mkv has no video track titled 'DEPTH'"):
        AzureDepthExtractor(path)
    with pytest.raises(ValueError, match=r"nodepth\.mkv has no video track titled 'DEPTH'"):
        open_depth_video(path)
    with pytest.raises(ValueError, match=r"nodepth\.mkv is an Azure Kinect recording without a"):
        FFV1DepthExtractor(path)
    assert np.array_equal(open_depth_video(path, track="IR").get_video(), np.zeros_like(depth))


def test_empty_and_garbage_files(tmp_path):
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.mkv is empty"):
        AzureDepthExtractor(empty)
    garbage = tmp_path / "garbage.mkv"
    garbage.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(ValueError, match=r"garbage\.mkv is not a video file"):
        AzureDepthExtractor(garbage)
    with pytest.raises(ValueError, match=r"garbage\.mkv"):
        open_depth_video(garbage)


def test_open_depth_video_dispatches_mkv_by_tracks(recording, tmp_path):
    path, depth, _ = recording
    azure = open_depth_video(path)
    assert isinstance(azure, AzureDepthExtractor)
    assert np.array_equal(azure.get_video(0, 2), depth[:2])
    ir = open_depth_video(path, track="IR")
    assert ir.track == "IR"

    ffv1_path = tmp_path / "depth.mkv"
    with av.open(str(ffv1_path), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = COLS, ROWS, "gray16le"
        for index, image in enumerate(depth[:5]):
            frame = av.VideoFrame.from_ndarray(image, format="gray16le")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    ffv1 = open_depth_video(ffv1_path)
    assert isinstance(ffv1, FFV1DepthExtractor)
    assert np.array_equal(ffv1.get_video(), depth[:5])


# ------------------------------------------------------------------------------ real data
real_data = pytest.mark.skipif(
    not REAL_RECORDING.is_file(),
    reason=f"real Azure Kinect recording not found at {REAL_RECORDING} (shared data absent)",
)


@real_data
def test_real_recording_shape_dtype_values():
    extractor = open_depth_video(REAL_RECORDING)
    assert isinstance(extractor, AzureDepthExtractor)
    assert extractor.get_num_frames() == 1
    assert extractor.get_image_size() == (576, 640)
    assert extractor.camera.name == "azure_nfov_unbinned"
    frame = extractor.get_video()
    assert frame.dtype == np.uint16
    assert frame.shape == (1, 576, 640)

    # Decode the DEPTH packet by hand as big-endian 16-bit and compare.
    with av.open(str(REAL_RECORDING)) as container:
        stream = next(s for s in container.streams.video if s.metadata.get("title") == "DEPTH")
        packet = next(p for p in container.demux(stream) if p.size)
        by_hand = np.frombuffer(bytes(packet), dtype=">u2").reshape(576, 640)
    assert np.array_equal(frame[0], by_hand)
    valid = frame[0][frame[0] > 0]
    # A desk scene a metre or two away: most valid depths are between 0.3 m and 4 m.
    assert valid.size > 0.5 * frame[0].size
    assert 300 < np.median(valid) < 4000
    assert frame[0].max() < 10_000


@real_data
def test_real_recording_times_metadata_and_ir():
    extractor = AzureDepthExtractor(REAL_RECORDING)
    # pyk4a reports depth_timestamp_usec == 800222 for this capture: pts + start offset.
    assert extractor.get_timestamps()[0] == pytest.approx(0.800222, abs=1e-9)
    assert extractor.get_sampling_frequency() == 5.0
    metadata = extractor.get_metadata()
    assert metadata["depth_mode"] == "NFOV_UNBINNED"
    assert metadata["K4A_DEVICE_SERIAL_NUMBER"] == "001514394512"
    assert (
        metadata["calibration"]["CalibrationInformation"]["Metadata"]["SerialId"] == "001514394512"
    )
    ir = AzureDepthExtractor(REAL_RECORDING, track="IR").get_video()
    assert ir.shape == (1, 576, 640)
    assert not np.array_equal(ir, extractor.get_video())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(pickle.dumps(extractor)).get_video()


def test_registry_sniff_hook_picks_by_contents(tmp_path, monkeypatch):
    """Classes sharing a suffix are asked in registration order; the first one is the fallback."""
    from depthextractors.extractors import registry
    from depthextractors.extractors.numpy_extractor import NumpyDepthExtractor

    monkeypatch.setattr(registry, "_REGISTRY", list(registry._REGISTRY))

    class First(NumpyDepthExtractor):
        @classmethod
        def sniff(cls, path):
            return Path(path).read_text() == "first"

        def __init__(self, path):
            super().__init__(np.zeros((1, 2, 2), np.uint16), 30.0)

    class Second(First):
        @classmethod
        def sniff(cls, path):
            return Path(path).read_text() == "second"

    registry.register_extractor(First, (".xyz",))
    registry.register_extractor(Second, (".xyz",))
    for text, expected in (("first", First), ("second", Second), ("neither", First)):
        path = tmp_path / f"{text}.xyz"
        path.write_text(text)
        assert type(open_depth_video(path)) is expected


# ------------------------------------------------------------------------------ block index
def _pyav_reference(monkeypatch, path: Path, **options) -> AzureDepthExtractor:
    """The extractor as the PyAV demuxing path (the fallback) builds it."""
    with monkeypatch.context() as patch:
        patch.setattr(AzureDepthExtractor, "_BLOCK_INDEX", False)
        extractor = AzureDepthExtractor(path, **options)
    assert extractor._offsets is None
    return extractor


def _assert_same_as_pyav(monkeypatch, path: Path, **options) -> AzureDepthExtractor:
    """Open ``path`` both ways; the block index must give the same pts, times and frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gap / truncation warnings are checked elsewhere
        fast = AzureDepthExtractor(path, **options)
        reference = _pyav_reference(monkeypatch, path, **options)
    assert fast._offsets is not None, "the block index was not used"
    assert fast._pts.dtype == reference._pts.dtype == np.int64
    assert np.array_equal(fast._pts, reference._pts)
    assert fast.time_base == reference.time_base
    assert np.array_equal(fast.get_timestamps(), reference.get_timestamps())
    assert fast.leading_dropped_frames == reference.leading_dropped_frames
    assert fast.missing_frames == reference.missing_frames
    assert fast.get_sampling_frequency() == reference.get_sampling_frequency()
    assert np.array_equal(fast.get_video(), reference.get_video())
    return fast


_LAYOUTS = {
    "simple blocks": {},
    "block groups": {"block_groups": True},
    "unknown-size clusters": {"unknown_cluster_size": True},
    "ms ticks, 4 captures per cluster": {"timecode_scale_ns": 1_000_000, "captures_per_cluster": 4},
    "imu track": {"imu_samples_per_capture": 5},
    "unknown size, groups, imu": {
        "unknown_cluster_size": True,
        "block_groups": True,
        "imu_samples_per_capture": 3,
    },
}


@pytest.mark.parametrize("track", ["DEPTH", "IR"])
@pytest.mark.parametrize("layout", list(_LAYOUTS))
def test_block_index_matches_pyav(tmp_path, monkeypatch, layout, track):
    depth = _depth_video(24, seed=11)
    ir = _depth_video(24, seed=12) // 5
    path = write_azure_like_mkv(
        tmp_path / "rec.mkv",
        depth,
        ir,
        color_frame=mjpeg_frame(64, 96, noise=True),
        **_LAYOUTS[layout],
    )
    fast = _assert_same_as_pyav(monkeypatch, path, track=track)
    expected = depth if track == "DEPTH" else ir
    if _LAYOUTS[layout].get("timecode_scale_ns") == 1_000_000:
        assert fast.time_base == Fraction(1, 1000)
    assert np.array_equal(fast.get_video(), expected)
    assert np.array_equal(fast.get_frames([23, 0, 11, 11]), expected[[23, 0, 11, 11]])


def test_block_index_matches_pyav_with_dropped_frames(tmp_path, monkeypatch):
    depth = _depth_video(20, seed=13)
    captures = np.arange(26, dtype=np.int64) * FRAME_INTERVAL_US
    kept = np.delete(captures, [0, 1, 9, 17, 18])[:20]
    path = write_azure_like_mkv(
        tmp_path / "gaps.mkv", depth, depth_times_us=kept, capture_times_us=captures
    )
    fast = _assert_same_as_pyav(monkeypatch, path)
    assert fast.leading_dropped_frames == 2
    assert fast.missing_frames == 3
    assert np.array_equal(fast.get_video(), depth)


def test_block_index_matches_pyav_on_truncated_recordings(tmp_path, monkeypatch):
    depth = _depth_video(10, seed=14)
    cut_frame = write_azure_like_mkv(tmp_path / "cutframe.mkv", depth, truncate_last_depth_by=64)
    fast = _assert_same_as_pyav(monkeypatch, cut_frame, allow_truncated=True)
    assert np.array_equal(fast.get_video(), depth[:9])

    whole = write_azure_like_mkv(tmp_path / "whole.mkv", depth).read_bytes()
    for name, lost in (
        ("inside.mkv", ROWS * COLS * 2 + ROWS * COLS),
        ("header.mkv", ROWS * COLS * 2 + 4),
    ):
        # Cut inside the last depth frame, and inside the last IR block's header.
        cut = tmp_path / name
        cut.write_bytes(whole[: len(whole) - lost])
        fast = _assert_same_as_pyav(monkeypatch, cut, allow_truncated=True)
        assert fast.get_num_frames() == (9 if name == "inside.mkv" else 10)
        assert np.array_equal(fast.get_video(), depth[: fast.get_num_frames()])


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        ({"depth_lacing": True}, "uses lacing"),
        ({"depth_header_stripping": 3}, "declares ContentEncodings"),
    ],
)
def test_unsupported_layouts_fall_back_to_pyav(tmp_path, caplog, option, reason):
    depth = _depth_video(12, seed=15)
    depth[:, 0, :2] = 1234  # the bytes header stripping removes are the same in every frame
    path = write_azure_like_mkv(tmp_path / "odd.mkv", depth, **option)
    with caplog.at_level("DEBUG", logger="depthextractors.extractors.azure"):
        extractor = AzureDepthExtractor(path)
    assert extractor._offsets is None
    assert reason in caplog.text
    assert "demuxing with PyAV" in caplog.text
    assert np.array_equal(extractor.get_video(), depth)
    assert np.array_equal(extractor.get_frames([7, 2]), depth[[7, 2]])
    # The IR track beside it is plain, so it still gets the block index.
    assert AzureDepthExtractor(path, track="IR")._offsets is not None


def test_block_index_random_access_pickling_and_threads(recording):
    path, depth, _ = recording
    extractor = AzureDepthExtractor(path)
    assert extractor._offsets is not None
    picks = np.random.default_rng(8).integers(0, depth.shape[0], 60)
    for index in picks:
        assert np.array_equal(extractor.get_video(int(index), int(index) + 1)[0], depth[index])
    sequential = np.concatenate([c.frames for c in extractor.iter_chunks(13)])
    assert np.array_equal(sequential, depth)

    clone = pickle.loads(pickle.dumps(extractor))  # the open file is not pickled
    assert clone._file is None
    assert clone._offsets is not None
    assert np.array_equal(clone.get_video(40, 47), depth[40:47])

    import threading

    failures: list[str] = []

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(40):
            start = int(rng.integers(0, depth.shape[0] - 5))
            if not np.array_equal(extractor.get_video(start, start + 5), depth[start : start + 5]):
                failures.append(f"thread {seed}: frames {start}..{start + 4} differ")

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_block_index_file_truncated_after_opening(tmp_path):
    depth = _depth_video(6, seed=16)
    path = write_azure_like_mkv(tmp_path / "rec.mkv", depth)
    extractor = AzureDepthExtractor(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - ROWS * COLS * 4])
    with pytest.raises(OSError, match=r"rec\.mkv changed since it was opened.*truncated"):
        extractor.get_video()


@real_data
def test_real_recording_block_index_matches_pyav(monkeypatch):
    for track in ("DEPTH", "IR"):
        fast = _assert_same_as_pyav(monkeypatch, REAL_RECORDING, track=track)
        assert fast.get_stream_pts().tolist() == [463945]
