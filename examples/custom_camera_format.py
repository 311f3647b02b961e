"""A new camera format: one DepthVideoExtractor subclass, checked by check_depth_extractor.

The format here is a made-up single-file layout a lab might have: a 32-byte header (magic
``b"DPTH"``, rows, cols, frame count as uint32, the frame rate as float64, the depth unit in
millimetres as float64), then the frames as little-endian uint16 in the camera's unit, then one
float64 device time per frame (seconds). The extractor converts the unit to millimetres, reads
only the frames asked for, and gives the device times; the base class gives slices, chunks,
random access, time conversion and the camera model. Registering the suffix makes
``open_depth_video`` and everything built on it (extraction, batch) open such files.

Run it with ``python examples/custom_camera_format.py``: it writes a small synthetic recording
in the format in a temporary folder, checks the extractor, and extracts the animal from it.
"""

import struct
import tempfile
from pathlib import Path

import numpy as np

from depthextractors import (
    DepthVideoExtractor,
    H5ResultsWriter,
    SessionExtraction,
    open_depth_video,
    register_extractor,
)
from depthextractors.testing import check_depth_extractor, synthesize_depth_video

HEADER = struct.Struct("<4sIIIdd")  # magic, rows, cols, frames, frame rate (Hz), unit (mm)
MAGIC = b"DPTH"


class DptDepthExtractor(DepthVideoExtractor):
    """Depth frames in a ``.dpt`` file (header, uint16 frames, float64 times).

    Parameters
    ----------
    path : path-like
        The ``.dpt`` file.
    """

    extractor_name = "DptDepthExtractor"

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            header = handle.read(HEADER.size)
        if len(header) < HEADER.size or header[:4] != MAGIC:
            raise ValueError(f"{self.path} is not a .dpt file (expected it to start with {MAGIC})")
        _, rows, cols, frames, rate, unit = HEADER.unpack(header)
        expected = HEADER.size + frames * rows * cols * 2 + frames * 8
        size = self.path.stat().st_size
        if size != expected:
            raise ValueError(
                f"{self.path} has {size} bytes; its header ({frames} frames of {rows}x{cols}) "
                f"needs {expected}: the file is truncated or corrupt"
            )
        self._image_size = (rows, cols)
        self._num_frames = frames
        self._rate = rate
        self._unit_mm = unit

    def get_image_size(self):
        return self._image_size  # (rows, cols) pixels

    def get_num_frames(self):
        return self._num_frames

    def get_sampling_frequency(self):
        return self._rate  # Hz

    def get_video(self, start_frame=None, end_frame=None):
        # The base class resolves the arguments to 0 <= start <= end <= frames.
        rows, cols = self._image_size
        count = end_frame - start_frame
        with open(self.path, "rb") as handle:
            handle.seek(HEADER.size + start_frame * rows * cols * 2)
            raw = np.fromfile(handle, dtype="<u2", count=count * rows * cols)
        frames = raw.reshape(count, rows, cols)
        if self._unit_mm == 1.0:
            return frames.astype(np.uint16)
        return np.round(frames * self._unit_mm).astype(np.uint16)  # millimetres

    def get_native_timestamps(self):
        rows, cols = self._image_size
        offset = HEADER.size + self._num_frames * rows * cols * 2
        return np.fromfile(self.path, dtype="<f8", count=self._num_frames, offset=offset)


def write_dpt(path: Path, video_mm: np.ndarray, rate: float, times_s: np.ndarray) -> None:
    """Write millimetre frames in the .dpt layout (unit 0.5 mm, as a finer camera might)."""
    frames, rows, cols = video_mm.shape
    with open(path, "wb") as handle:
        handle.write(HEADER.pack(MAGIC, rows, cols, frames, rate, 0.5))
        (video_mm.astype(np.uint32) * 2).astype("<u2").tofile(handle)
        times_s.astype("<f8").tofile(handle)


def main(folder: Path) -> None:
    video, truth = synthesize_depth_video(120, seed=4)  # (120, 424, 512) uint16 mm, Kinect v2
    times = truth.timestamps_ms / 1000.0
    path = folder / "mouse.dpt"
    write_dpt(path, video, 30.0, times)
    print(f"wrote {path.name}: {video.shape[0]} frames of {video.shape[1]}x{video.shape[2]}")

    extractor = DptDepthExtractor(path)
    # The conformance check every format runs: ranges, random indices, slices of slices,
    # chunks with overlap, times and their precedence, the errors for bad arguments, pickling.
    check_depth_extractor(extractor, video)
    np.testing.assert_allclose(extractor.get_timestamps(), times)
    print(f"check_depth_extractor passed: {extractor}, camera {extractor.camera.name}")

    register_extractor(DptDepthExtractor, (".dpt",))
    opened = open_depth_video(path)
    print(f"open_depth_video picks {type(opened).__name__} for .dpt files")

    results = SessionExtraction(opened).run(
        H5ResultsWriter(folder / "proc"), chunk_size=60, progress=False
    )
    # centroid_*_px are relative to the ROI's bounding box (moseq2's convention).
    rows, cols = np.nonzero(results.roi)
    x = np.asarray(results.scalars["centroid_x_px"]) + cols.min()
    y = np.asarray(results.scalars["centroid_y_px"]) + rows.min()
    error = np.hypot(x - truth.centroid_px[:, 0], y - truth.centroid_px[:, 1])
    print(
        f"extracted {len(results)} frames from the .dpt file: animal found in "
        f"{results.valid.mean():.0%}, centroid error median {np.nanmedian(error):.2f} px"
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        main(Path(directory))
