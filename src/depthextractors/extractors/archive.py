"""moseq session archives (``.tar.gz``): ``depth.dat``, ``depth_ts.txt`` and ``metadata.json``
in one gzip-compressed tar, read in place without unpacking.

The archive is read through :class:`~.containers.gzip_index.GzipRandomAccessReader`, which
decompresses forwards from where the last read ended or from its nearest checkpoint, so reading
the frames in order costs one decompression of the archive, however they are chunked. This
module decides which members make the session and what they mean.

gzip stores a CRC-32 and the length of the data at the end of each gzip member, so damage that
still decompresses is found only when the decompressor reaches that end. The extractor goes on
to it whenever a read reaches the last frame, and after reading the side files when they lie
after the frames (both cost only what follows the data read); damage raises
:class:`~.errors.CorruptRecordingError` naming the frames or member affected.
"""

from __future__ import annotations

import os
import posixpath
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cameras import CameraModel, get_camera
from .base import DEPTH_DTYPE, DepthVideoExtractor
from .containers.gzip_index import (
    GZIP_MAGIC,
    CorruptGzipError,
    CorruptTarError,
    GzipRandomAccessReader,
    TruncatedGzipError,
    iter_tar_members,
)
from .errors import CorruptRecordingError
from .sidecar import (
    check_recording_path,
    check_sampling_frequency,
    parse_session_metadata,
    resolve_frame_size,
    resolve_sampling_frequency,
)
from .timestamp_files import (
    TIMES_FROM_RATE,
    TimestampColumn,
    check_timestamps,
    read_timestamp_bytes,
)

__all__ = ["TarSessionExtractor"]

DEPTH_MEMBER = "depth.dat"
TIMESTAMPS_MEMBER = "depth_ts.txt"
METADATA_MEMBER = "metadata.json"


@dataclass(frozen=True)
class _Member:
    name: str
    offset: int  # uncompressed stream offset of the member's data
    size: int


class TarSessionExtractor(DepthVideoExtractor):
    """A moseq session archive (``.tar.gz`` holding ``depth.dat``) read in place, lazily.

    Opening reads tar headers up to the depth member only (not its frames). Frames are read
    through :class:`GzipRandomAccessReader`: reading forwards (:meth:`iter_chunks`, consecutive
    :meth:`get_video` ranges) costs one decompression of the archive in total; a read behind
    the last one restarts from the nearest checkpoint, at most ``checkpoint_spacing_mb``
    megabytes before it.

    Parameters
    ----------
    file_path : path-like
        The ``.tar.gz`` (or ``.tgz``) archive.
    member : str, optional
        Name of the depth member in the archive; by default the first member named
        ``depth.dat`` (at the top level or in a folder). ``depth_ts.txt`` and ``metadata.json``
        are looked for in the same folder of the archive.
    camera : str or CameraModel, default "auto"
        As for :class:`~depthextractors.extractors.raw.RawDepthExtractor`.
    frame_size : tuple of int, optional
        ``(rows, cols)``; otherwise taken from ``camera`` (a preset), then from
        ``DepthResolution`` [width, height] in ``metadata.json``, then Kinect v2 (424, 512) if
        the member is a whole number of its frames, else the only preset that fits.
    sampling_frequency : float, optional
        Frame rate in Hz; otherwise the median interval of ``depth_ts.txt``, else 30 Hz.
    checkpoint_spacing_mb : float, default 32
        Megabytes of uncompressed data between decompressor checkpoints (each about 40 kB).

    Raises
    ------
    FileNotFoundError
        If the archive does not exist.
    ValueError
        If it is empty, not a gzip-compressed tar, truncated before its depth member, holds no
        ``depth.dat`` (the message lists what it holds), or the depth member is not a whole
        number of frames.
    CorruptRecordingError
        If the compressed data is damaged (when opening, or later when reading frames or the
        side files).

    Notes
    -----
    Integrity: gzip checks its data with a CRC-32 and a length at the end of each gzip member
    (one member for the whole archive as ``tar czf`` writes it), so a read that reaches the last
    frame goes on to the end of the archive (costing only the members after the frames) and
    raises :class:`~depthextractors.extractors.CorruptRecordingError` if a check fails; so
    does reading the side files when they follow the frames. Frames read before the check are
    not yet verified: an extraction, which reads to the last frame, fails instead of finishing.
    :meth:`verify` checks the whole archive at once.

    ``tar`` stores members in the order given; archives written with sorted names put
    ``depth.dat`` before ``depth_ts.txt`` and ``metadata.json``. Those two are then read (one
    pass over the depth data) the first time timestamps, metadata or the frame rate are asked
    for — or at opening, when the frame size can only come from ``metadata.json``. Passing
    ``camera=`` or ``frame_size=`` and ``sampling_frequency=`` avoids it.
    """

    extractor_name = "TarSessionExtractor"

    def __init__(
        self,
        file_path: str | os.PathLike,
        member: str | None = None,
        camera: str | CameraModel = "auto",
        frame_size: tuple[int, int] | None = None,
        sampling_frequency: float | None = None,
        checkpoint_spacing_mb: float = 32,
    ) -> None:
        super().__init__()
        self.file_path = check_recording_path(file_path, "session archive", "pass the .tar.gz file")
        archive_bytes = self.file_path.stat().st_size
        if archive_bytes == 0:
            raise ValueError(f"{self.file_path} is empty (0 bytes): it holds no session")
        with open(self.file_path, "rb") as handle:
            magic = handle.read(2)
        if magic != GZIP_MAGIC:
            raise ValueError(
                f"{self.file_path} is not gzip-compressed (it starts with {magic!r}, not "
                f"{GZIP_MAGIC!r}); expected a .tar.gz moseq session archive"
            )
        self._checkpoint_spacing = max(1, int(checkpoint_spacing_mb * 1024 * 1024))
        self._lock = threading.Lock()
        self._reader: GzipRandomAccessReader | None = None
        self._requested_member = member
        self._side_members: dict[str, _Member] = {}
        self._members_complete = False
        self._side_files_loaded = False
        self._metadata: dict[str, Any] = {}
        self._timestamps_ms: TimestampColumn | None = None
        self._timestamps: np.ndarray | None = None
        self._timestamps_checked = False
        self._sampling_frequency: float | None = check_sampling_frequency(sampling_frequency)

        try:
            self._depth = self._find_depth_member()
        except (CorruptGzipError, CorruptTarError) as error:
            raise self._corrupt(error) from error
        self._image_size = resolve_frame_size(
            f"{self._depth.name} in {self.file_path}",
            camera,
            frame_size,
            self._depth.size,
            2,
            self._metadata_for_size,
        )
        self._camera = get_camera(camera, self._image_size)
        rows, cols = self._image_size
        self._frame_bytes = rows * cols * 2
        self._num_frames, leftover = divmod(self._depth.size, self._frame_bytes)
        if leftover or self._num_frames == 0:
            raise ValueError(
                f"{self.file_path}: member {self._depth.name} has {self._depth.size} bytes, which "
                f"is {self._num_frames} whole frames of {self._frame_bytes} bytes ({rows}x{cols} "
                f"uint16) plus {leftover} extra bytes; check frame_size / camera or the "
                "archive's metadata.json"
            )

    # ------------------------------------------------------------------ members
    @property
    def reader(self) -> GzipRandomAccessReader:
        """The decompressing reader (created on first use)."""
        if self._reader is None:
            self._reader = GzipRandomAccessReader(self.file_path, self._checkpoint_spacing)
        return self._reader

    @staticmethod
    def _clean(name: str) -> str:
        return posixpath.normpath(name).lstrip("/")

    def _find_depth_member(self) -> _Member:
        seen: list[str] = []
        wanted = None if self._requested_member is None else self._clean(self._requested_member)
        candidates: dict[str, _Member] = {}
        depth = None
        for info in iter_tar_members(self.reader):
            name = self._clean(info.name)
            seen.append(name + ("/" if info.isdir() else ""))
            if not info.isfile():
                continue
            member = _Member(name, info.offset_data, info.size)
            candidates[name] = member
            if name == wanted or (wanted is None and posixpath.basename(name) == DEPTH_MEMBER):
                # Stop here: going on would decompress the frames to reach the next header.
                depth = member
                break
        else:
            self._members_complete = True
        if depth is None:
            listing = ", ".join(seen[:20])
            if len(seen) > 20:
                listing += f", ... ({len(seen)} in all)"
            expected = repr(wanted) if wanted else f"a member named {DEPTH_MEMBER}"
            raise ValueError(
                f"{self.file_path} holds no depth recording: expected {expected}, found "
                f"[{listing}]. Pass member=... to name the depth file inside the archive."
            )
        self._side_members = self._side_files(depth, candidates)
        return depth

    @staticmethod
    def _side_files(depth: _Member, candidates: dict[str, _Member]) -> dict[str, _Member]:
        folder = posixpath.dirname(depth.name)
        found = {}
        for side in (TIMESTAMPS_MEMBER, METADATA_MEMBER):
            member = candidates.get(posixpath.join(folder, side) if folder else side)
            if member is not None:
                found[side] = member
        return found

    def _side_files_found(self, depth: _Member, candidates: dict[str, _Member]) -> bool:
        return len(self._side_files(depth, candidates)) == 2

    def _find_remaining_members(self) -> None:
        """Read the tar headers past the depth member (one pass over its data)."""
        if self._members_complete:
            return
        candidates = {}
        for info in iter_tar_members(self.reader):
            if info.isfile():
                name = self._clean(info.name)
                candidates[name] = _Member(name, info.offset_data, info.size)
                if self._side_files_found(self._depth, candidates):
                    break
        self._members_complete = True
        self._side_members = self._side_files(self._depth, candidates)

    def _read_member(self, member: _Member) -> bytes:
        try:
            return bytes(self.reader.read_at(member.offset, member.size))
        except CorruptGzipError as error:
            raise self._corrupt(error) from error
        except EOFError as error:
            raise ValueError(
                f"{self.file_path} is truncated: member {member.name} ({member.size} bytes) is "
                f"cut short ({error})"
            ) from error

    def _load_side_files(self) -> None:
        if self._side_files_loaded:
            return
        with self._lock:
            try:
                if len(self._side_members) < 2:
                    self._find_remaining_members()
            except (CorruptGzipError, CorruptTarError) as error:
                raise self._corrupt(error) from error
            contents = {name: self._read_member(m) for name, m in self._side_members.items()}
            depth = self.__dict__.get("_depth")
            if depth is not None and self.reader.position >= depth.offset + depth.size:
                # The frames have been decompressed to reach the side files: going on to the
                # end of the archive checks them, and the side files, at the cost of its tail.
                self._verify_rest()
            self._metadata = self._parse_metadata(contents.get(METADATA_MEMBER))
            self._timestamps_ms = self._parse_timestamps(contents.get(TIMESTAMPS_MEMBER))
            self._side_files_loaded = True

    def _parse_metadata(self, data: bytes | None) -> dict[str, Any]:
        if data is None:
            return {}
        where = f"{self.file_path}:{self._side_members[METADATA_MEMBER].name}"
        return parse_session_metadata(data, where, stacklevel=4)

    @staticmethod
    def _parse_timestamps(data: bytes | None) -> TimestampColumn | None:
        """The first column of depth_ts.txt (milliseconds), unchecked against the frames."""
        return None if data is None else read_timestamp_bytes(data)

    # ------------------------------------------------------------------ integrity
    def verify(self) -> None:
        """Check the whole archive against gzip's CRC-32 and length now.

        Reads do this by themselves when they reach the last frame; this is for checking an
        archive before (or without) reading it: it decompresses whatever has not been
        decompressed yet (the whole archive on a fresh extractor).

        Raises
        ------
        CorruptRecordingError
            If the archive is damaged.
        OSError
            If it is truncated.
        """
        with self._lock:
            self._verify_rest()

    def _verify_rest(self) -> None:
        """Decompress to the end of the archive so every gzip check is made (lock held)."""
        try:
            self.reader.verify_to_end()
        except CorruptGzipError as error:
            raise self._corrupt(error) from error
        except TruncatedGzipError as error:
            raise OSError(
                f"{self.file_path} is truncated: the archive ends inside its compressed data, "
                f"at {self._where(self.reader.position)}, so it cannot be checked against its "
                "CRC-32. Copy the archive again from its source."
            ) from error

    def _where(self, offset: int) -> str:
        """What lies at ``offset`` of the uncompressed stream, in words."""
        depth = self.__dict__.get("_depth")
        frame_bytes = self.__dict__.get("_frame_bytes")
        if depth is not None and depth.offset <= offset < depth.offset + depth.size:
            if frame_bytes:
                return f"frame {(offset - depth.offset) // frame_bytes} of {depth.name}"
            return f"byte {offset - depth.offset} of {depth.name}"
        for member in self._side_members.values():
            if member.offset <= offset < member.offset + member.size:
                return f"member {member.name}"
        return f"uncompressed byte {offset}"

    def _corrupt(self, error: CorruptGzipError | CorruptTarError) -> CorruptRecordingError:
        """The one error a user sees for damage ``error`` found in the archive."""
        advice = (
            f"Copy the archive again from its source (`gzip -t {self.file_path.name}` reports "
            "the same damage)"
        )
        if isinstance(error, CorruptTarError):
            # A header is usually damaged because the compressed data before it is: gzip's
            # checks then say more than the header's.
            try:
                self.reader.verify_to_end()
            except CorruptGzipError as gzip_error:
                error = gzip_error
            except EOFError:
                pass
            if isinstance(error, CorruptTarError):
                return CorruptRecordingError(f"{error}. {advice}")
        if error.check_failed:
            start = (
                "its gzip data fails"
                if error.member_start == 0
                else f"its gzip data from {self._where(error.member_start)} onwards fails"
            )
            return CorruptRecordingError(
                f"{self.file_path} is corrupt: {start} gzip's {error.reason} (made at the end "
                f"of the data, near compressed byte {error.compressed_offset}): what it "
                f"decompresses to is not what was compressed, so no frame read from it can be "
                f"trusted. {advice}"
            )
        return CorruptRecordingError(
            f"{self.file_path} is corrupt near compressed byte {error.compressed_offset}, at "
            f"{self._where(error.uncompressed_offset)}: the data cannot be decompressed "
            f"({error.reason}). {advice}"
        )

    def _check_timestamps(self, timestamps_ms: TimestampColumn | None) -> np.ndarray | None:
        """Frame times in seconds from depth_ts.txt, or None (with a warning) if unusable."""
        if timestamps_ms is None:
            return None
        where = f"{self.file_path}:{self._side_members[TIMESTAMPS_MEMBER].name}"
        return check_timestamps(
            timestamps_ms, self._num_frames, where, self._depth.name, TIMES_FROM_RATE, stacklevel=4
        )

    # ------------------------------------------------------------------ set-up
    def _metadata_for_size(self) -> dict[str, Any]:
        # Only metadata.json can tell the size now; read it even if it lies after the frames.
        self._load_side_files()
        return self._metadata

    # ------------------------------------------------------------------ the interface
    def get_image_size(self) -> tuple[int, int]:
        return self._image_size

    def get_num_frames(self) -> int:
        return self._num_frames

    def get_sampling_frequency(self) -> float:
        if self._sampling_frequency is None:
            self._sampling_frequency = resolve_sampling_frequency(
                None, self.get_native_timestamps(), self.file_path
            )
        return self._sampling_frequency

    def get_native_timestamps(self) -> np.ndarray | None:
        if not self._timestamps_checked:
            self._load_side_files()
            self._timestamps = self._check_timestamps(self._timestamps_ms)
            self._timestamps_checked = True
        return self._timestamps

    def _native_timestamps_source(self) -> str:
        return posixpath.basename(self._side_members[TIMESTAMPS_MEMBER].name)

    def get_metadata(self) -> dict[str, Any]:
        self._load_side_files()
        return dict(self._metadata)

    @property
    def depth_member(self) -> str:
        """Name of the depth member inside the archive."""
        return self._depth.name

    def get_video(self, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
        rows, cols = self._image_size
        count = end_frame - start_frame
        if count == 0:
            return np.empty((0, rows, cols), dtype=DEPTH_DTYPE)
        offset = self._depth.offset + start_frame * self._frame_bytes
        video = np.empty((count, rows, cols), dtype="<u2")
        with self._lock:
            try:
                self.reader.readinto_at(offset, video)
            except CorruptGzipError as error:
                raise self._corrupt(error) from error
            except EOFError as error:
                reached = max(0, self.reader.position - self._depth.offset)
                raise OSError(
                    f"{self.file_path} is truncated: {self._depth.name} should hold "
                    f"{self._depth.size} bytes ({self._num_frames} frames) but the archive "
                    f"ends after {reached} of them, inside frame {reached // self._frame_bytes} "
                    f"(reading frames {start_frame}..{end_frame}). Copy the archive again."
                ) from error
            if end_frame == self._num_frames:
                # The last frame: gzip's checks of what was read lie at the end of the archive.
                self._verify_rest()
        return video.astype(DEPTH_DTYPE, copy=False)

    def __del__(self) -> None:
        reader = self.__dict__.get("_reader")
        if reader is not None:
            reader.close()
