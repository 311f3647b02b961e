"""Reading a track of an Azure Kinect recording by demuxing it with PyAV.

The fallback of :class:`~.azure.AzureDepthExtractor` for layouts its Matroska block scanner
does not handle: reads demux the track from the nearest seek point by timestamp, continuing
where the last read stopped, and check every packet against the frames indexed at opening.
"""

from __future__ import annotations

from collections.abc import Iterator

import av
import numpy as np

from .containers.pyav import open_video_container

__all__ = ["DemuxedTrackReading"]


class DemuxedTrackReading:
    """Demuxed reads for :class:`~.azure.AzureDepthExtractor` (a mixin).

    Uses the extractor's ``file_path``, ``track``, ``_stream_index``, ``_pts`` (every frame's
    timestamp), ``_frame_bytes``, ``_sample_type``, ``_image_size`` and the decoder state it
    lists in ``_DECODER_STATE`` (``_container``, ``_stream``, ``_packets``, ``_next_frame``).
    """

    def _open(self) -> None:
        container = open_video_container(self.file_path)
        matches = [s for s in container.streams.video if s.index == self._stream_index]
        if not matches:
            container.close()
            raise OSError(
                f"{self.file_path} changed since it was opened: its {self.track} track is gone"
            )
        self._container = container
        self._stream = matches[0]

    def _track_packets(self) -> Iterator[av.Packet]:
        for packet in self._container.demux(self._stream):
            if packet.size and packet.pts is not None:
                yield packet

    def _seek(self, frame: int, to_start: bool = False) -> None:
        target = 0 if to_start else int(self._pts[frame])
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._packets = self._track_packets()
        self._next_frame = None

    def _read_demuxed(self, video: np.ndarray, start: int) -> None:
        """Fill ``video`` with frames from ``start``, demuxing the track with PyAV."""
        if self._container is None:
            self._open()
        here = self._next_frame
        if self._packets is None or here is None or here != start:
            self._seek(start)
        position = self._next_frame
        retried = False
        filled = 0
        while filled < video.shape[0]:
            packet = next(self._packets, None)
            wanted = start + filled
            if packet is None:
                raise OSError(
                    f"{self.file_path}: the {self.track} track ends before frame {wanted} "
                    f"(expected {self.get_num_frames()} frames); the file was truncated after "
                    "it was opened"
                )
            index = int(np.searchsorted(self._pts, packet.pts))
            if index >= self._pts.size or self._pts[index] != packet.pts:
                raise OSError(
                    f"{self.file_path}: found a {self.track} frame at timestamp {packet.pts} "
                    "that was not there when the file was opened; the file changed or is corrupt"
                )
            if position is None and index > start:
                # The demuxer landed after the wanted frame: read from the stream start instead.
                if retried:
                    raise OSError(
                        f"{self.file_path}: cannot seek to {self.track} frame {start}; reading "
                        f"from the start begins at frame {index}. The file's index is damaged"
                    )
                retried = True
                self._seek(start, to_start=True)
                continue
            if position is not None and index != position:
                raise OSError(
                    f"{self.file_path}: expected {self.track} frame {position} next but found "
                    f"frame {index}; the file is corrupt"
                )
            position = index + 1
            if index < start:
                continue
            if packet.size != self._frame_bytes:
                raise OSError(
                    f"{self.file_path}: {self.track} frame {index} has {packet.size} bytes instead "
                    f"of {self._frame_bytes}; the file is corrupt"
                )
            pixels = np.frombuffer(packet, dtype=self._sample_type)
            # Assigning big-endian samples into the native uint16 array swaps the bytes.
            video[filled] = pixels.reshape(self._image_size)
            filled += 1
        self._next_frame = position
