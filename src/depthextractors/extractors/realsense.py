"""Intel RealSense ``.bag`` recordings: ROS1 bag v2.0 files written by the RealSense SDK.

The bag's records are read by :mod:`.containers.rosbag`: opening a bag reads its index (no
chunk is decompressed for it), so the frame count and every frame's location are known without
decoding frames; reading frame ``k`` decompresses only its chunk, and only up to the end of that
message. A bag whose writer never closed it has no index; its chunk records are scanned instead.
This module decides what the SDK's topics mean: which one holds depth, its units, its frame
rate, the device.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from datetime import datetime, timezone
from typing import Any, BinaryIO

import numpy as np

from ..cameras import CAMERA_PRESETS, CameraModel, detect_camera, get_camera
from .base import DEPTH_DTYPE, DepthVideoExtractor
from .containers.rosbag import (
    UINT32,
    BagConnection,
    ChunkRecord,
    ChunkStream,
    read_bag_index,
    read_chunk_record,
    ros1_typestore,
)
from .errors import CorruptRecordingError
from .sidecar import check_recording_path, check_sampling_frequency, warn_default_rate

__all__ = ["BagConnection", "RealSenseBagExtractor"]

logger = logging.getLogger(__name__)

IMAGE_MSGTYPE = "sensor_msgs/msg/Image"
DEPTH_ENCODINGS = ("16UC1", "mono16")
DEFAULT_DEPTH_UNITS_M = 0.001
# Header stamps later than 2001-09-09 (1e9 s) are clock times, not simulated time.
_CLOCK_TIME_AFTER_S = 1e9


class RealSenseBagExtractor(DepthVideoExtractor):
    """A RealSense SDK recording (ROS1 ``.bag``) read lazily, in millimetres.

    Opening reads the bag's index (or, for a bag its writer never closed, scans its chunk
    records), the stream settings and the first depth frame; no other frame is decoded. Reading
    frame ``k`` decompresses only the chunk that holds it, and only up to the end of that frame.

    Parameters
    ----------
    file_path : path-like
        The ``.bag`` file.
    topic : str, optional
        Depth topic. By default the ``sensor_msgs/Image`` topic whose name contains "depth"
        and whose frames are 16-bit (``16UC1`` / ``mono16``) is used.
    camera : str or CameraModel, default "auto"
        ``"auto"`` picks the RealSense preset with the frame size (D415 when the bag's device
        name says so, else D435); or a preset name, family or
        :class:`~depthextractors.cameras.CameraModel`.
    depth_units_m : float, optional
        Metres per depth count. By default the value the SDK recorded (the ``Depth Units``
        option, usually 0.001 m), else 0.001 m with a warning. Frames are returned in
        millimetres: ``round(count * depth_units_m * 1000)``.
    sampling_frequency : float, optional
        Frame rate in Hz; by default the depth stream's nominal rate recorded in the bag.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, not a ROS1 bag, truncated, or holds no (or several) depth
        topics, or its depth frames are not 16-bit.

    Notes
    -----
    Frame times (:meth:`get_native_timestamps`) are the ``header.stamp`` of each image message,
    in seconds; the SDK writes the frame's timestamp there (the bag's own receive times are not
    the capture times). They are read on first use, which decompresses the start of every chunk
    that holds a depth frame.
    """

    extractor_name = "RealSenseBagExtractor"

    def __init__(
        self,
        file_path: str | os.PathLike,
        topic: str | None = None,
        camera: str | CameraModel = "auto",
        depth_units_m: float | None = None,
        sampling_frequency: float | None = None,
    ) -> None:
        super().__init__()
        self.file_path = check_recording_path(file_path, "RealSense bag", "pass the .bag file")
        self._chunk_records: dict[int, ChunkRecord] = {}
        self._stream: ChunkStream | None = None
        self._lock = threading.Lock()
        self._timestamps: np.ndarray | None = None
        self._timestamps_read = False

        index = read_bag_index(self.file_path)
        self._indexed = index.indexed
        self._cut_bytes = index.cut_bytes
        self._connections = index.connections
        self._locations = index.locations
        with open(self.file_path, "rb") as handle:
            self._depth = self._choose_depth_connection(topic, handle)
            if index.scan_note:
                # Only now: a bag cut before its first frame is one error, not a warning too.
                warnings.warn(index.scan_note, stacklevel=2)
            self._frame_locations = np.asarray(self._locations[self._depth.id], dtype=np.int64)
            first = self._decode_image(self._read_message(0, self._frame_locations[0], handle), 0)
            self._image_size = (int(first.height), int(first.width))
            self._device_info = self._read_key_values(self._device_topic() + "/info", handle)
            self._depth_units_m = self._resolve_depth_units(depth_units_m, handle)
            self._sampling_frequency = self._resolve_sampling_frequency(sampling_frequency, handle)
        scale = self._depth_units_m * 1000.0
        self._mm_per_count = 1.0 if math.isclose(scale, 1.0, rel_tol=1e-9) else scale
        self._camera = self._resolve_camera(camera)

    # ------------------------------------------------------------------ set-up
    def _choose_depth_connection(self, topic: str | None, handle: BinaryIO) -> BagConnection:
        images = [
            c for c in self._connections.values()
            if c.msgtype == IMAGE_MSGTYPE and self._locations.get(c.id)
        ]  # fmt: skip
        image_topics = sorted(c.topic for c in images)
        if topic is not None:
            matches = [c for c in images if c.topic == topic]
            if not matches:
                raise ValueError(
                    f"{self.file_path} has no image messages on topic {topic!r}; its image topics "
                    f"are {image_topics}"
                )
            return matches[0]
        candidates = [c for c in images if "depth" in c.topic.lower()]
        if len(candidates) > 1:
            # Keep the 16-bit ones (an aligned colour stream can also mention depth).
            candidates = [
                c for c in candidates
                if self._peek_encoding(c, handle) in DEPTH_ENCODINGS
            ]  # fmt: skip
        if not candidates and self._cut_bytes:
            raise ValueError(
                f"{self.file_path} was cut short: its writer never closed it (no index) and "
                f"it ends inside a record ({self._cut_bytes} bytes of it are there), before "
                f"any whole depth frame (image topics found: {image_topics}). Copy the whole "
                "file again from the recording machine"
            )
        if not candidates:
            all_topics = sorted(f"{c.topic} ({c.msgtype})" for c in self._connections.values())
            shown = ", ".join(all_topics[:12]) + (" ..." if len(all_topics) > 12 else "")
            raise ValueError(
                f"{self.file_path} has no depth topic: expected sensor_msgs/Image messages with "
                f"a 16UC1/mono16 encoding on a topic whose name contains 'depth'. Its image topics "
                f"are {image_topics}; all topics: {shown}. Pass topic=... if the depth images "
                "are on another topic."
            )
        if len(candidates) > 1:
            raise ValueError(
                f"{self.file_path} has several depth topics {sorted(c.topic for c in candidates)}; "
                "pass topic=... to choose one"
            )
        return candidates[0]

    def _peek_encoding(self, connection: BagConnection, handle: BinaryIO) -> str:
        chunk_pos, offset = self._locations[connection.id][0]
        stream = self._chunk_stream(chunk_pos, handle)
        start, end = stream.message_span(offset, handle, f"the first {connection.topic} message")
        stream.ensure(end, handle, "an image message")
        message = ros1_typestore().deserialize_ros1(bytes(stream.buffer[start:end]), IMAGE_MSGTYPE)
        return message.encoding

    def _device_topic(self) -> str:
        # "/device_0/sensor_0/Depth_0/image/data" -> "/device_0"
        parts = self._depth.topic.split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else ""

    def _sensor_topic(self) -> str:
        # "/device_0/sensor_0/Depth_0/image/data" -> "/device_0/sensor_0"
        parts = self._depth.topic.split("/")
        return "/".join(parts[:3]) if len(parts) > 3 else ""

    def _messages_on(self, topic: str, msgtype: str | None = None) -> list[BagConnection]:
        return [
            c for c in self._connections.values()
            if c.topic == topic and (msgtype is None or c.msgtype == msgtype)
            and self._locations.get(c.id)
        ]  # fmt: skip

    def _read_connection_messages(self, connection: BagConnection, handle: BinaryIO) -> list[bytes]:
        messages = []
        for chunk_pos, offset in self._locations[connection.id]:
            stream = self._chunk_stream(chunk_pos, handle)
            messages.append(stream.message(offset, handle, f"a {connection.topic} message"))
        return messages

    def _read_key_values(self, topic: str, handle: BinaryIO) -> dict[str, str]:
        values: dict[str, str] = {}
        for connection in self._messages_on(topic, "diagnostic_msgs/msg/KeyValue"):
            for raw in self._read_connection_messages(connection, handle):
                message = ros1_typestore().deserialize_ros1(raw, connection.msgtype)
                values[message.key] = message.value
        return values

    def _resolve_depth_units(self, depth_units_m: float | None, handle: BinaryIO) -> float:
        if depth_units_m is not None:
            value = float(depth_units_m)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"depth_units_m must be a positive number of metres, got {value}")
            return value
        sensor = self._sensor_topic()
        connections = [
            c for name in ("option/Depth Units/value", "option/Depth Units")
            for c in self._messages_on(f"{sensor}/{name}", "std_msgs/msg/Float32")
        ]  # fmt: skip
        if not connections:
            warnings.warn(
                f"{self.file_path} records no 'Depth Units' option for {sensor or 'its sensor'}; "
                f"assuming {DEFAULT_DEPTH_UNITS_M} m per count (pass depth_units_m= to override)",
                stacklevel=3,
            )
            return DEFAULT_DEPTH_UNITS_M
        values = []
        for raw in self._read_connection_messages(connections[0], handle):
            message = ros1_typestore().deserialize_ros1(raw, "std_msgs/msg/Float32")
            # The SDK stores a float32; its shortest decimal form is the value that was set.
            values.append(float(str(np.float32(message.data))))
        if len(set(values)) > 1:
            warnings.warn(
                f"{self.file_path}: the depth units changed during the recording {values}; "
                f"the first value, {values[0]} m, is used for every frame",
                stacklevel=3,
            )
        if not (math.isfinite(values[0]) and values[0] > 0):
            raise ValueError(f"{self.file_path} records invalid depth units {values[0]!r} m")
        return values[0]

    def _resolve_sampling_frequency(
        self, sampling_frequency: float | None, handle: BinaryIO
    ) -> float:
        if sampling_frequency is not None:
            return check_sampling_frequency(sampling_frequency)
        # "/device_0/sensor_0/Depth_0/image/data" -> "/device_0/sensor_0/Depth_0/info"
        stream_topic = self._depth.topic.rsplit("/image/", 1)[0] + "/info"
        for connection in self._messages_on(stream_topic):
            first_field = next(
                (line.split("#")[0].split() for line in connection.msgdef.splitlines()
                 if line.split("#")[0].strip()),
                [],
            )  # fmt: skip
            # realsense_msgs/StreamInfo begins with "uint32 fps" (the nominal rate in Hz).
            if first_field == ["uint32", "fps"]:
                raw = self._read_connection_messages(connection, handle)[0]
                (fps,) = UINT32.unpack_from(raw, 0)
                if fps > 0:
                    return float(fps)
        return warn_default_rate(
            f"{self.file_path}: no nominal frame rate recorded for {self._depth.topic} and none "
            "given",
            stacklevel=3,
        )

    def _resolve_camera(self, camera: str | CameraModel) -> CameraModel:
        if not (isinstance(camera, str) and camera in ("auto", "realsense")):
            return get_camera(camera, self._image_size)
        rows, cols = self._image_size
        if "D415" in self._device_info.get("Name", ""):
            preset = CAMERA_PRESETS.get(f"realsense_d415_{cols}x{rows}")
            if preset is not None:
                return preset
        model = detect_camera(self._image_size, "realsense")
        return model if model.name != "unknown" else get_camera("auto", self._image_size)

    # ------------------------------------------------------------------ reading messages
    def _chunk_record(self, chunk_pos: int, handle: BinaryIO) -> ChunkRecord:
        chunk = self._chunk_records.get(chunk_pos)
        if chunk is None:
            chunk = read_chunk_record(handle, chunk_pos, self.file_path)
            self._chunk_records[chunk_pos] = chunk
        return chunk

    def _chunk_stream(self, chunk_pos: int, handle: BinaryIO) -> ChunkStream:
        # One chunk is kept: frames are read in file order, several per chunk at most.
        if self._stream is None or self._stream.chunk_pos != chunk_pos:
            self._stream = ChunkStream(
                self.file_path, chunk_pos, self._chunk_record(chunk_pos, handle)
            )
        return self._stream

    def _read_message(self, frame: int, location: np.ndarray, handle: BinaryIO) -> bytes:
        chunk_pos, offset = (int(v) for v in location)
        return self._chunk_stream(chunk_pos, handle).message(offset, handle, f"depth frame {frame}")

    def _decode_image(self, raw: bytes, frame: int):
        try:
            message = ros1_typestore().deserialize_ros1(raw, IMAGE_MSGTYPE)
        # Whatever the deserialiser trips on, the message bytes are not a valid image.
        except Exception as error:
            raise CorruptRecordingError(
                f"{self.file_path}: depth frame {frame} on {self._depth.topic} cannot be decoded "
                f"as sensor_msgs/Image ({error}); the bag is corrupt. Copy it again from the "
                "recording machine"
            ) from error
        where = f"{self.file_path}: depth frame {frame} on {self._depth.topic}"
        if message.encoding not in DEPTH_ENCODINGS:
            raise ValueError(
                f"{where} has encoding {message.encoding!r}; expected 16-bit depth "
                f"({' or '.join(DEPTH_ENCODINGS)}). Pass topic=... to choose the depth topic."
            )
        if message.step < 2 * message.width or message.step % 2:
            raise ValueError(f"{where} has a row step of {message.step} bytes for "
                             f"{message.width} 16-bit pixels")  # fmt: skip
        if len(message.data) != message.step * message.height:
            raise CorruptRecordingError(
                f"{where} holds {len(message.data)} bytes of pixels but its header says "
                f"{message.height} rows of {message.step} bytes; the frame is incomplete"
            )
        return message

    def _decode_frame(self, frame: int, handle: BinaryIO) -> np.ndarray:
        message = self._decode_image(
            self._read_message(frame, self._frame_locations[frame], handle), frame
        )
        rows, cols = self._image_size
        if (message.height, message.width) != (rows, cols):
            raise ValueError(
                f"{self.file_path}: depth frame {frame} is {message.height}x{message.width} but "
                f"frame 0 is {rows}x{cols} (rows x cols); the frame size changed mid-recording"
            )
        dtype = np.dtype(">u2" if message.is_bigendian else "<u2")
        counts = np.frombuffer(message.data, dtype=dtype).reshape(rows, message.step // 2)[:, :cols]
        if self._mm_per_count == 1.0:
            return counts
        millimetres = np.rint(counts * self._mm_per_count)
        if millimetres.max(initial=0) > np.iinfo(DEPTH_DTYPE).max:
            raise ValueError(
                f"{self.file_path}: depth frame {frame} holds {int(counts.max())} counts of "
                f"{self._depth_units_m} m = {millimetres.max():.0f} mm, more than uint16 "
                "millimetres can hold (65535); pass depth_units_m= if the recorded units are wrong"
            )
        return millimetres

    # ------------------------------------------------------------------ the interface
    def get_image_size(self) -> tuple[int, int]:
        return self._image_size

    def get_num_frames(self) -> int:
        return int(self._frame_locations.shape[0])

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    @property
    def topic(self) -> str:
        """The depth topic read."""
        return self._depth.topic

    @property
    def depth_units_m(self) -> float:
        """Metres per raw depth count in the bag."""
        return self._depth_units_m

    @property
    def connections(self) -> list[BagConnection]:
        """Every connection (topic) in the bag."""
        return sorted(self._connections.values(), key=lambda c: c.id)

    def get_metadata(self) -> dict[str, Any]:
        metadata = {
            "topic": self._depth.topic,
            "depth_units_m": self._depth_units_m,
            "device": dict(self._device_info),
            "indexed": self._indexed,
        }
        stamps = self.get_native_timestamps()
        # Header stamps are the recording computer's clock (seconds since 1970, UTC) unless the
        # bag was made with simulated time, which starts near zero.
        if stamps is not None and stamps.size and stamps[0] > _CLOCK_TIME_AFTER_S:
            first = datetime.fromtimestamp(float(stamps[0]), tz=timezone.utc)
            metadata["start_time"] = first.isoformat()
        return metadata

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        rows, cols = self._image_size
        video = np.empty((end_frame - start_frame, rows, cols), dtype=DEPTH_DTYPE)
        if end_frame == start_frame:
            return video
        with self._lock, open(self.file_path, "rb") as handle:
            for position, frame in enumerate(range(start_frame, end_frame)):
                video[position] = self._decode_frame(frame, handle)
        return video

    def get_native_timestamps(self) -> np.ndarray | None:
        if not self._timestamps_read:
            with self._lock, open(self.file_path, "rb") as handle:
                self._timestamps = self._read_header_stamps(handle)
            self._timestamps_read = True
        return self._timestamps

    def _read_header_stamps(self, handle: BinaryIO) -> np.ndarray | None:
        stamps = np.empty(self.get_num_frames(), dtype=np.float64)
        for frame, location in enumerate(self._frame_locations):
            chunk_pos, offset = (int(v) for v in location)
            stream = self._chunk_stream(chunk_pos, handle)
            what = f"the header of depth frame {frame}"
            stamps[frame] = stream.header_stamp(offset, handle, what)
        if np.any(np.diff(stamps) < 0):
            warnings.warn(
                f"{self.file_path}: the header stamps of {self._depth.topic} go backwards; frame "
                "times will be frame / frame rate",
                stacklevel=4,
            )
            return None
        return stamps
