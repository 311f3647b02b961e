"""AzureDepthExtractor: Azure Kinect recordings (.mkv) and .mkv dispatch.

libavformat's Matroska muxer always writes a 1/1000 s time base and cannot store the ``b16g``
FourCC the Azure Kinect recorder uses (raw 16-bit grey comes back as ``rgb555le``), so the
multi-frame Azure-like fixtures are written by the small EBML writer below, laid out as the
recorder lays out its files (TimecodeScale 1000 ns, ``V_MS/VFW/FOURCC`` tracks titled COLOR /
DEPTH / IR, ``K4A_*`` tags, a ``calibration.json`` attachment, one cluster per capture). The
colour frames inside are real MJPEG encoded with PyAV, and everything is read back with PyAV.
"""

from __future__ import annotations

import json
import pickle
import struct
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

REAL_DATA = Path(__file__).resolve().parents[2] / "shared/data/real"
REAL_RECORDING = REAL_DATA / "azure_kinect/recording.mkv"

ROWS, COLS = 48, 64  # small frames keep the fixtures fast; the real file covers 576x640
FRAME_INTERVAL_US = 33_333
START_OFFSET_NS = 250_000_000
CALIBRATION = {"CalibrationInformation": {"Cameras": [{"Purpose": "Depth"}], "Metadata": {}}}


# ------------------------------------------------------------------------------ EBML writer
def _size(length: int) -> bytes:
    """An 8-byte EBML size field."""
    return bytes([0x01]) + length.to_bytes(7, "big")


def _element(element_id: int, payload: bytes) -> bytes:
    return (
        element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
        + _size(len(payload))
        + payload
    )


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(8, "big"))


def _text(element_id: int, value: str) -> bytes:
    return _element(element_id, value.encode("utf-8"))


def _bitmap_info_header(width: int, height: int, fourcc: bytes, bits: int) -> bytes:
    return struct.pack(
        "<IiiHH4sIiiII", 40, width, height, 1, bits, fourcc, width * height * bits // 8, 0, 0, 0, 0
    )


def _simple_tags(pairs: dict[str, str], track_uid: int | None = None) -> bytes:
    targets = _uint(0x63C5, track_uid) if track_uid is not None else b""
    simple = b"".join(
        _element(0x67C8, _text(0x45A3, name) + _text(0x4487, value))
        for name, value in pairs.items()
    )
    return _element(0x7373, _element(0x63C0, targets) + simple)


def _mjpeg_frame(rows: int, cols: int) -> bytes:
    context = av.CodecContext.create("mjpeg", "w")
    context.width, context.height, context.pix_fmt = cols, rows, "yuvj420p"
    context.time_base = Fraction(1, 30)
    image = np.full((rows, cols, 3), 128, dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])


def write_azure_like_mkv(
    path: Path,
    depth: np.ndarray,
    ir: np.ndarray | None = None,
    *,
    depth_times_us: np.ndarray | None = None,
    capture_times_us: np.ndarray | None = None,
    depth_mode: str | None = None,
    truncate_last_depth_by: int = 0,
    depth_title: str = "DEPTH",
) -> Path:
    """Write an Azure-Kinect-like recording: COLOR (MJPEG), DEPTH and IR (b16g) tracks.

    ``capture_times_us`` are the capture times (every capture has COLOR and IR); depth frames
    are written at ``depth_times_us`` (a subset, so depth can start late or miss captures).
    """
    frames, rows, cols = depth.shape
    if depth_times_us is None:
        depth_times_us = np.arange(frames, dtype=np.int64) * FRAME_INTERVAL_US
    if capture_times_us is None:
        capture_times_us = depth_times_us
    if ir is None:
        ir = np.zeros((capture_times_us.size, rows, cols), dtype=np.uint16)
    depth_by_time = {int(t): i for i, t in enumerate(depth_times_us)}
    color_bytes = _mjpeg_frame(16, 16)
    tracks = {"COLOR": (1, 1001), depth_title: (2, 1002), "IR": (3, 1003)}

    def track_entry(title: str, codec: bytes, width: int, height: int, private: bytes) -> bytes:
        number, uid = tracks[title]
        video = _element(0xE0, _uint(0xB0, width) + _uint(0xBA, height))
        return _element(
            0xAE,
            _uint(0xD7, number)
            + _uint(0x73C5, uid)
            + _uint(0x83, 1)
            + _uint(0x9C, 0)
            + _text(0x536E, title)
            + _element(0x86, codec)
            + _uint(0x23E383, FRAME_INTERVAL_US * 1000)
            + (_element(0x63A2, private) if private else b"")
            + video,
        )

    info = _element(
        0x1549A966,
        _uint(0x2AD7B1, 1000)
        + _text(0x4D80, "test-ebml")
        + _text(0x5741, "test-ebml")
        + _text(0x7BA9, "Azure Kinect"),
    )
    raw16 = b"V_MS/VFW/FOURCC"
    track_list = _element(
        0x1654AE6B,
        track_entry("COLOR", b"V_MJPEG", 16, 16, b"")
        + track_entry(depth_title, raw16, cols, rows, _bitmap_info_header(cols, rows, b"b16g", 16))
        + track_entry("IR", raw16, cols, rows, _bitmap_info_header(cols, rows, b"b16g", 16)),
    )
    tags = _element(
        0x1254C367,
        _simple_tags(
            {
                "K4A_START_OFFSET_NS": str(START_OFFSET_NS),
                "K4A_DEPTH_DELAY_NS": "0",
                "K4A_DEVICE_SERIAL_NUMBER": "000000000000",
            }
        )
        + (
            _simple_tags({"K4A_DEPTH_MODE": depth_mode}, tracks[depth_title][1])
            if depth_mode
            else b""
        )
        + _simple_tags({"K4A_IR_MODE": "ACTIVE"}, tracks["IR"][1]),
    )
    attachments = _element(
        0x1941A469,
        _element(
            0x61A7,
            _text(0x466E, "calibration.json")
            + _text(0x4660, "application/octet-stream")
            + _element(0x465C, json.dumps(CALIBRATION).encode())
            + _uint(0x46AE, 77),
        ),
    )

    def block(track_title: str, payload: bytes) -> bytes:
        number = tracks[track_title][0]
        return _element(
            0xA3, bytes([0x80 | number]) + struct.pack(">h", 0) + bytes([0x80]) + payload
        )

    clusters = []
    for capture, time_us in enumerate(capture_times_us):
        blocks = block("COLOR", color_bytes)
        if int(time_us) in depth_by_time:
            payload = depth[depth_by_time[int(time_us)]].astype(">u2").tobytes()
            if truncate_last_depth_by and depth_by_time[int(time_us)] == frames - 1:
                payload = payload[:-truncate_last_depth_by]
            blocks += block(depth_title, payload)
        blocks += block("IR", ir[capture].astype(">u2").tobytes())
        clusters.append(_element(0x1F43B675, _uint(0xE7, int(time_us)) + blocks))
    segment = info + track_list + tags + attachments + b"".join(clusters)
    header = _element(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _text(0x4282, "matroska")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    path.write_bytes(header + _element(0x18538067, segment))
    return path


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
