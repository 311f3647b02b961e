"""RealSenseBagExtractor: synthetic bags written with rosbags, the nine real D435 recordings,
and malformed bags."""

from __future__ import annotations

import pickle
import struct
import warnings
from pathlib import Path

import lz4.frame
import numpy as np
import pytest
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from depthextractors import RealSenseBagExtractor, open_depth_video
from depthextractors.extractors.containers import rosbag
from depthextractors.testing import check_depth_extractor

DEPTH_TOPIC = "/device_0/sensor_0/Depth_0/image/data"
COLOR_TOPIC = "/device_0/sensor_1/Color_0/image/data"
STREAM_INFO_DEF = "uint32 fps\nstring encoding\nbool is_recommended\n"

REAL_BAGS = [
    "2af09c7eed7bce6b98adb6a50e72350f8f2fd922.bag",  # no index: read by scanning its chunks
    "62ece70a2312a114391eb5d78fcbf9021bd0b384.bag",
    "6ec49d0bc3a5c6299eb5e49a0803dd0c1b0f78cf.bag",
    "769364211455a86e7d555ae5edc4ea366a093ad9.bag",
    "82fccb123f2ce7720e57e9b325690b906e7845fd.bag",
    "b3e7856a84f9d10db9704042e6f1e68c00d0dbde.bag",
    "beef0020b1d1524f8ab1d626a46318ef1f837c56.bag",
    "d96a4da8fe22e816c49ada7e4db695cc80eb374b.bag",
    "f40aab394a0103dd2754402bc6f1150f50c9102b.bag",
]


# ----------------------------------------------------------------------------------------------
# Writing RealSense-like bags
# ----------------------------------------------------------------------------------------------
def _typestore():
    store = get_typestore(Stores.ROS1_NOETIC)
    store.register(get_types_from_msg(STREAM_INFO_DEF, "realsense_msgs/msg/StreamInfo"))
    return store


def _image(store, counts: np.ndarray, seq: int, stamp_s: float, encoding: str, bigendian: bool):
    rows, cols = counts.shape[:2]
    channels = 1 if counts.ndim == 2 else counts.shape[2]
    data = counts.astype(">u2" if bigendian else "<u2") if counts.dtype.itemsize == 2 else counts
    header = store.types["std_msgs/msg/Header"](
        seq=seq,
        stamp=store.types["builtin_interfaces/msg/Time"](
            sec=int(stamp_s), nanosec=round((stamp_s - int(stamp_s)) * 1e9)
        ),
        frame_id="0",
    )
    return store.types["sensor_msgs/msg/Image"](
        header=header,
        height=rows,
        width=cols,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=cols * channels * counts.dtype.itemsize,
        data=np.frombuffer(data.tobytes(), dtype=np.uint8),
    )


def write_bag(
    path: Path,
    frames: np.ndarray,
    stamps_s: np.ndarray,
    *,
    depth_units_m: float | None = 0.001,
    fps: int | None = 30,
    encoding: str = "16UC1",
    bigendian: bool = False,
    depth_topic: str | None = DEPTH_TOPIC,
    extra_depth_topic: str | None = None,
    with_color: bool = True,
    device_name: str = "Intel RealSense D435",
    chunk_threshold: int = 700_000,
    compression: str = "lz4",
) -> Path:
    """Write a bag laid out like the RealSense SDK's (device info, options, stream info,
    interleaved colour and depth images), with lz4 chunks of about ``chunk_threshold`` bytes
    that carry a content checksum, as the SDK's (roslz4) do."""
    store = _typestore()
    writer = Writer(path)
    if compression != "none":
        writer.set_compression(Writer.CompressionFormat[compression.upper()])
    if compression == "lz4":
        writer.compressor = lambda data: lz4.frame.compress(data, 0, content_checksum=True)
    writer.chunk_threshold = chunk_threshold
    with writer:
        info = writer.add_connection(
            "/device_0/info", "diagnostic_msgs/msg/KeyValue", typestore=store
        )
        name = store.types["diagnostic_msgs/msg/KeyValue"](key="Name", value=device_name)
        writer.write(info, 1, store.serialize_ros1(name, info.msgtype))
        if depth_units_m is not None:
            units = writer.add_connection(
                "/device_0/sensor_0/option/Depth Units/value",
                "std_msgs/msg/Float32",
                typestore=store,
            )
            message = store.types["std_msgs/msg/Float32"](data=depth_units_m)
            writer.write(units, 1, store.serialize_ros1(message, units.msgtype))
        if fps is not None:
            stream = writer.add_connection(
                "/device_0/sensor_0/Depth_0/info",
                "realsense_msgs/msg/StreamInfo",
                typestore=store,
            )
            message = store.types["realsense_msgs/msg/StreamInfo"](
                fps=fps, encoding="mono16", is_recommended=True
            )
            writer.write(stream, 1, store.serialize_ros1(message, stream.msgtype))
        topics = [t for t in (depth_topic, extra_depth_topic) if t]
        depth_connections = [
            writer.add_connection(t, "sensor_msgs/msg/Image", typestore=store) for t in topics
        ]
        color = (
            writer.add_connection(COLOR_TOPIC, "sensor_msgs/msg/Image", typestore=store)
            if with_color else None
        )  # fmt: skip
        rgb = np.zeros((frames.shape[1] // 4, frames.shape[2] // 4, 3), dtype=np.uint8)
        for index, (frame, stamp) in enumerate(zip(frames, stamps_s, strict=True)):
            time_ns = 1_000_000_000 + index * 33_000_000
            if color is not None:
                message = _image(store, rgb + index % 250, index, stamp, "rgb8", False)
                writer.write(color, time_ns, store.serialize_ros1(message, color.msgtype))
            for connection in depth_connections:
                message = _image(store, frame, index, stamp, encoding, bigendian)
                writer.write(connection, time_ns, store.serialize_ros1(message, connection.msgtype))
    return path


def make_frames(count: int, rows: int = 480, cols: int = 640, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.integers(400, 900, size=(count, rows, cols), dtype=np.uint16)
    frames[:, :10, :] = 0  # invalid pixels, as the camera reports them
    frames[:, -1, -1] = 65535
    return frames


@pytest.fixture(scope="module")
def synthetic_bag(tmp_path_factory):
    frames = make_frames(24)
    stamps = 1_700_000_000.0 + np.arange(24) / 30.0
    path = write_bag(tmp_path_factory.mktemp("bag") / "session.bag", frames, stamps)
    return path, frames, stamps


# ----------------------------------------------------------------------------------------------
# An independent decoder for the tests: walk the file's records by hand
# ----------------------------------------------------------------------------------------------
def _fields(blob: bytes) -> dict[str, bytes]:
    fields, position = {}, 0
    while position < len(blob):
        (size,) = struct.unpack_from("<I", blob, position)
        name, _, value = blob[position + 4 : position + 4 + size].partition(b"=")
        fields[name.decode()] = value
        position += 4 + size
    return fields


def _records(data: bytes, position: int = 0):
    while position + 8 <= len(data):
        (header_size,) = struct.unpack_from("<I", data, position)
        if position + 8 + header_size > len(data):
            return
        fields = _fields(data[position + 4 : position + 4 + header_size])
        (data_size,) = struct.unpack_from("<I", data, position + 4 + header_size)
        start = position + 8 + header_size
        if start + data_size > len(data):
            return
        yield fields, data[start : start + data_size]
        position = start + data_size


def decode_depth_by_hand(path: Path, topic_part: str = "Depth_0/image/data"):
    """Every depth image of a bag, decoded from the raw bytes: (frames, header stamps)."""
    data = path.read_bytes()
    depth_connections, frames, stamps = set(), [], []
    for fields, body in _records(data, len(b"#ROSBAG V2.0\n")):
        if fields["op"] != b"\x05" or not body:  # an unfinished chunk has no data
            continue
        chunk = lz4.frame.decompress(body) if fields["compression"] == b"lz4" else body
        for inner, message in _records(chunk):
            if inner["op"] == b"\x07" and topic_part in inner["topic"].decode():
                depth_connections.add(inner["conn"])
            elif inner["op"] == b"\x02" and inner["conn"] in depth_connections:
                _, seconds, nanoseconds, frame_id_size = struct.unpack_from("<IIII", message)
                position = 16 + frame_id_size
                height, width, encoding_size = struct.unpack_from("<III", message, position)
                position += 12 + encoding_size
                bigendian, step, pixel_bytes = struct.unpack_from("<BII", message, position)
                pixels = message[position + 9 : position + 9 + pixel_bytes]
                dtype = ">u2" if bigendian else "<u2"
                image = np.frombuffer(pixels, dtype=dtype).reshape(height, step // 2)[:, :width]
                frames.append(image.astype(np.uint16))
                stamps.append(seconds + nanoseconds * 1e-9)
    return np.stack(frames), np.asarray(stamps)


# ----------------------------------------------------------------------------------------------
# Synthetic bags
# ----------------------------------------------------------------------------------------------
def test_synthetic_bag_passes_the_conformance_check(synthetic_bag):
    path, frames, stamps = synthetic_bag
    extractor = RealSenseBagExtractor(path)
    check_depth_extractor(extractor, frames)
    assert extractor.topic == DEPTH_TOPIC
    assert extractor.get_sampling_frequency() == 30.0
    np.testing.assert_allclose(extractor.get_timestamps(), stamps, atol=1e-6)
    assert extractor.camera.name == "realsense_d435_640x480"
    assert extractor.get_metadata()["device"]["Name"] == "Intel RealSense D435"
    assert extractor.depth_units_m == 0.001
    assert isinstance(open_depth_video(path), RealSenseBagExtractor)


def test_the_hand_decoder_agrees_on_the_synthetic_bag(synthetic_bag):
    path, frames, stamps = synthetic_bag
    decoded, decoded_stamps = decode_depth_by_hand(path)
    assert np.array_equal(decoded, frames)
    np.testing.assert_allclose(decoded_stamps, stamps, atol=1e-6)


def test_opening_is_lazy_and_a_frame_read_decompresses_one_chunk(synthetic_bag, monkeypatch):
    path, frames, _ = synthetic_bag
    opened = []
    original = rosbag.ChunkStream.__init__

    def counting_init(self, *args, **kwargs):
        opened.append(args[1])
        original(self, *args, **kwargs)

    monkeypatch.setattr(rosbag.ChunkStream, "__init__", counting_init)
    extractor = RealSenseBagExtractor(path)
    num_chunks = len({int(pos) for pos, _ in extractor._frame_locations})
    assert num_chunks >= 8, "the fixture should spread the frames over many chunks"
    # The options and the first frame live in the first chunks; no other chunk is touched.
    assert len(set(opened)) <= 2
    opened.clear()
    assert np.array_equal(extractor.get_frames(17), frames[17])
    assert len(opened) == 1


def test_frame_size_and_camera_override(synthetic_bag):
    path, _, _ = synthetic_bag
    assert RealSenseBagExtractor(path, camera="realsense_d415_640x480").camera.name == (
        "realsense_d415_640x480"
    )
    with pytest.raises(ValueError, match="720x1280"):
        RealSenseBagExtractor(path, camera="realsense_d435_1280x720")


def test_d415_device_name_picks_the_d415_preset(tmp_path):
    frames = make_frames(2, seed=4)
    path = write_bag(
        tmp_path / "d415.bag", frames, np.arange(2.0), device_name="Intel RealSense D415"
    )
    assert RealSenseBagExtractor(path).camera.name == "realsense_d415_640x480"


def test_depth_units_are_applied_with_rounding(tmp_path):
    frames = make_frames(3, seed=1)
    path = write_bag(tmp_path / "fine.bag", frames, np.arange(3.0), depth_units_m=0.0001)
    extractor = RealSenseBagExtractor(path)
    assert extractor.depth_units_m == 0.0001
    expected = np.rint(frames * 0.1).astype(np.uint16)
    assert np.array_equal(extractor.get_video(), expected)
    # An explicit value wins over the recorded one.
    assert np.array_equal(RealSenseBagExtractor(path, depth_units_m=0.001).get_video(), frames)


def test_depth_units_that_overflow_millimetres_raise(tmp_path):
    frames = make_frames(2, seed=2)
    frames[:, -1, -1] = 0
    frames[1, 100, 100] = 10_000  # 10,000 counts of 1 cm: 100 m, beyond uint16 millimetres
    path = write_bag(tmp_path / "coarse.bag", frames, np.arange(2.0), depth_units_m=0.01)
    extractor = RealSenseBagExtractor(path)
    assert np.array_equal(extractor.get_frames(0), frames[0] * 10)
    with pytest.raises(ValueError, match=r"coarse\.bag: depth frame 1 holds 10000 counts.*65535"):
        extractor.get_video()


def test_missing_depth_units_warns_and_assumes_millimetres(tmp_path):
    frames = make_frames(2, seed=3)
    path = write_bag(tmp_path / "nounits.bag", frames, np.arange(2.0), depth_units_m=None, fps=None)
    with (
        pytest.warns(UserWarning, match="no 'Depth Units' option"),
        pytest.warns(UserWarning, match="assuming 30 Hz"),
    ):
        extractor = RealSenseBagExtractor(path)
    assert np.array_equal(extractor.get_video(), frames)


@pytest.mark.parametrize("compression", ["bz2", "none"])
def test_bz2_and_uncompressed_chunks(tmp_path, compression):
    frames = make_frames(4, rows=48, cols=64, seed=9)
    path = write_bag(
        tmp_path / f"{compression}.bag", frames, np.arange(4.0), compression=compression,
        chunk_threshold=10_000,
    )  # fmt: skip
    extractor = RealSenseBagExtractor(path)
    assert np.array_equal(extractor.get_frames([3, 0, 2]), frames[[3, 0, 2]])
    assert extractor.camera.name == "unknown"  # no preset has 48x64 frames


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
def test_big_endian_frames(tmp_path, encoding):
    frames = make_frames(3, seed=5)
    path = write_bag(tmp_path / "be.bag", frames, np.arange(3.0), encoding=encoding, bigendian=True)
    assert np.array_equal(RealSenseBagExtractor(path).get_video(), frames)


def test_topic_argument_chooses_among_depth_topics(tmp_path):
    frames = make_frames(2, seed=6)
    other = "/device_1/sensor_0/Depth_0/image/data"
    path = write_bag(tmp_path / "two.bag", frames, np.arange(2.0), extra_depth_topic=other)
    with pytest.raises(ValueError, match="several depth topics"):
        RealSenseBagExtractor(path)
    # The second device recorded no options of its own: the defaults are announced.
    with pytest.warns(UserWarning, match="no 'Depth Units' option for /device_1/sensor_0"):
        assert RealSenseBagExtractor(path, topic=other, sampling_frequency=30).topic == other
    with pytest.raises(ValueError, match="no image messages on topic '/nope'"):
        RealSenseBagExtractor(path, topic="/nope")


def test_a_colour_topic_named_by_topic_is_refused(tmp_path):
    frames = make_frames(2, seed=7)
    path = write_bag(tmp_path / "colour.bag", frames, np.arange(2.0))
    with pytest.raises(ValueError, match=r"encoding 'rgb8'.*16-bit"):
        RealSenseBagExtractor(path, topic=COLOR_TOPIC)


# ----------------------------------------------------------------------------------------------
# Bags without an index
# ----------------------------------------------------------------------------------------------
def _drop_index(data: bytes, keep: int | None = None) -> bytes:
    """The bag as a writer that never closed it leaves it: index_pos 0 and no index section."""
    field = data.index(b"index_pos=") + len(b"index_pos=")
    (index_pos,) = struct.unpack_from("<Q", data, field)
    unindexed = bytearray(data[: index_pos if keep is None else keep])
    unindexed[field : field + 8] = bytes(8)
    return bytes(unindexed)


def test_an_unindexed_bag_is_read_by_scanning(synthetic_bag, tmp_path):
    path, frames, stamps = synthetic_bag
    unindexed = tmp_path / "unindexed.bag"
    unindexed.write_bytes(_drop_index(path.read_bytes()))
    with pytest.warns(UserWarning, match="no index"):
        extractor = RealSenseBagExtractor(unindexed)
    assert extractor.get_metadata()["indexed"] is False
    check_depth_extractor(extractor, frames)
    np.testing.assert_allclose(extractor.get_timestamps(), stamps, atol=1e-6)


def test_an_unfinished_last_chunk_is_reported_and_left_out(synthetic_bag, tmp_path):
    path, frames, _ = synthetic_bag
    data = path.read_bytes()
    whole = RealSenseBagExtractor(path)
    last_chunk = int(whole._frame_locations[-1][0])
    cut = tmp_path / "cut.bag"
    cut.write_bytes(_drop_index(data, keep=last_chunk + 500))
    with pytest.warns(UserWarning, match=r"unfinished record"):
        extractor = RealSenseBagExtractor(cut)
    complete = int(np.sum(whole._frame_locations[:, 0] < last_chunk))
    assert extractor.get_num_frames() == complete < len(frames)
    assert np.array_equal(extractor.get_video(), frames[:complete])


# ----------------------------------------------------------------------------------------------
# Malformed input
# ----------------------------------------------------------------------------------------------
def test_an_empty_file_raises(tmp_path):
    path = tmp_path / "empty.bag"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.bag is empty \(0 bytes\)"):
        RealSenseBagExtractor(path)


def test_a_file_that_is_not_a_bag_raises(tmp_path):
    path = tmp_path / "text.bag"
    path.write_text("hello, I am not a bag\n")
    with pytest.raises(ValueError, match=r"text\.bag is not a ROS1 bag"):
        RealSenseBagExtractor(path)


def test_a_bag_without_a_depth_topic_raises_and_lists_its_topics(tmp_path):
    frames = make_frames(2, seed=8)
    path = write_bag(tmp_path / "colour_only.bag", frames, np.arange(2.0), depth_topic=None)
    with pytest.raises(ValueError, match="no depth topic") as error:
        RealSenseBagExtractor(path)
    assert "colour_only.bag" in str(error.value)
    assert COLOR_TOPIC in str(error.value)


def test_a_truncated_bag_raises(synthetic_bag, tmp_path):
    path, _, _ = synthetic_bag
    data = path.read_bytes()
    cut = tmp_path / "truncated.bag"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated\.bag is truncated.*index starts at byte"):
        RealSenseBagExtractor(cut)


def test_a_bag_cut_inside_its_header_raises(tmp_path):
    cut = tmp_path / "stub.bag"
    cut.write_bytes(b"#ROSBAG V2.0\n\x45\x00")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        RealSenseBagExtractor(cut)


def test_a_pickled_extractor_reads_after_the_original_is_gone(synthetic_bag):
    path, frames, _ = synthetic_bag
    extractor = RealSenseBagExtractor(path)
    extractor.get_frames(5)  # leaves a chunk cached
    clone = pickle.loads(pickle.dumps(extractor))
    del extractor
    assert np.array_equal(clone.get_frames([3, 20]), frames[[3, 20]])


# ----------------------------------------------------------------------------------------------
# The real D435 recordings
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", REAL_BAGS)
def test_real_realsense_bags(real_data, name):
    path = real_data / "realsense_d435" / name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extractor = RealSenseBagExtractor(path)
    scanned = [str(w.message) for w in caught if "no index" in str(w.message)]
    assert bool(scanned) == name.startswith("2af09c7e")
    assert extractor.shape == (1, 720, 1280)
    assert extractor.camera.name == "realsense_d435_1280x720"
    assert extractor.depth_units_m == 0.001
    assert extractor.get_sampling_frequency() == 15.0
    video = extractor.get_video()
    assert video.dtype == np.uint16
    assert video.shape == (1, 720, 1280)
    expected, stamps = decode_depth_by_hand(path)
    assert np.array_equal(video, expected)
    assert 0.0 < (video > 0).mean() < 1.0  # outdoor scenes: real depth plus invalid pixels
    np.testing.assert_allclose(extractor.get_timestamps(), stamps)
    assert 1.5e9 < extractor.get_timestamps()[0] < 1.6e9  # 2019, as the SDK stamped it
