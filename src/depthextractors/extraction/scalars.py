"""Per-frame scalars: moseq2-extract's 17, plus validity and speeds per second.

Conventions (kept from moseq2-extract so downstream tools read the numbers unchanged):

- ``centroid_x_px`` / ``centroid_y_px`` are relative to the top-left corner of the ROI's
  bounding box (x = column, y = row, rows pointing down);
- ``centroid_x_mm`` / ``centroid_y_mm`` are millimetres on the floor plane at the ROI's true
  depth, relative to the optical centre, from the **full-frame** pixel coordinates
  (:meth:`~depthextractors.cameras.CameraModel.pixels_to_mm`; moseq2-extract converted the
  ROI-relative coordinates as if they were full-frame ones, which offsets its millimetres by the
  ROI corner);
- ``length_mm`` uses the x pixel size and ``width_mm`` the y pixel size, as moseq2-extract;
  ``area_mm`` is in mm² (pixel area times the area of a pixel; moseq2-extract multiplied by a
  pixel's mean side length, which is not an area);
- ``angle`` is the body-axis angle in radians, counter-clockwise from +x with y up, unwrapped
  over the session (flips add pi);
- velocities are differences from the previous frame (moseq2's "per frame", 0 for the first
  frame), ``velocity_3d_*`` include the change of mean height in millimetres, and
  ``velocity_theta`` is ``arctan2(dy_mm, dx_mm)``;
- new: ``velocity_2d_mm_per_s`` and ``velocity_3d_mm_per_s`` divide by the real time between
  the frames (so dropped frames do not inflate speeds), and ``valid`` says whether the animal
  was found. Frames without the animal hold NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cameras import CameraModel

__all__ = [
    "MOSEQ2_SCALARS",
    "SCALAR_DESCRIPTIONS",
    "DroppedFrames",
    "ScalarComputer",
    "detect_dropped_frames",
]

#: The 17 scalars of moseq2-extract, in its order.
MOSEQ2_SCALARS: tuple[str, ...] = (
    "centroid_x_px",
    "centroid_y_px",
    "velocity_2d_px",
    "velocity_3d_px",
    "width_px",
    "length_px",
    "area_px",
    "centroid_x_mm",
    "centroid_y_mm",
    "velocity_2d_mm",
    "velocity_3d_mm",
    "width_mm",
    "length_mm",
    "area_mm",
    "height_ave_mm",
    "angle",
    "velocity_theta",
)

#: ``description`` attribute of every scalar written to ``results_00.h5``.
SCALAR_DESCRIPTIONS: dict[str, str] = {
    "centroid_x_px": "X centroid (pixels, from the left edge of the ROI bounding box)",
    "centroid_y_px": "Y centroid (pixels, from the top edge of the ROI bounding box)",
    "velocity_2d_px": (
        "2D velocity (pixels / frame), note that missing frames are not accounted for"
    ),
    "velocity_3d_px": (
        "3D velocity (pixels / frame), note that missing frames are not accounted for, also "
        "height is in mm, not pixels for calculation"
    ),
    "width_px": "Mouse width (pixels)",
    "length_px": "Mouse length (pixels)",
    "area_px": "Mouse area (pixels)",
    "centroid_x_mm": "X centroid (mm, from the optical centre at the floor depth)",
    "centroid_y_mm": "Y centroid (mm, from the optical centre at the floor depth)",
    "velocity_2d_mm": "2D velocity (mm / frame), note that missing frames are not accounted for",
    "velocity_3d_mm": "3D velocity (mm / frame), note that missing frames are not accounted for",
    "width_mm": "Mouse width (mm)",
    "length_mm": "Mouse length (mm)",
    "area_mm": "Mouse area (mm^2)",
    "height_ave_mm": "Mouse average height (mm)",
    "angle": "Angle (radians, unwrapped, counter-clockwise from +x with y pointing up)",
    "velocity_theta": "Angular component of velocity (arctan2(vel_y, vel_x), radians)",
    "velocity_2d_mm_per_s": (
        "2D speed (mm / s) from the frame timestamps; dropped frames are accounted for"
    ),
    "velocity_3d_mm_per_s": (
        "3D speed (mm / s) from the frame timestamps, height change included; dropped frames "
        "are accounted for"
    ),
    "valid": "Whether the animal was found in the frame (false: the other scalars are NaN)",
}


@dataclass(frozen=True)
class DroppedFrames:
    """Frames missing from a recording, found from gaps in its timestamps.

    Attributes
    ----------
    count : int
        Estimated number of frames missing.
    after : numpy.ndarray
        Indices (into the frames given) of the frames followed by a gap.
    interval_s : float
        The regular frame interval the gaps were measured against, seconds.
    """

    count: int
    after: np.ndarray
    interval_s: float


def detect_dropped_frames(timestamps_s: np.ndarray, tolerance: float = 1.5) -> DroppedFrames:
    """Find gaps in frame times.

    Parameters
    ----------
    timestamps_s : numpy.ndarray
        ``(frames,)`` frame times in seconds.
    tolerance : float, default 1.5
        A gap longer than ``tolerance`` median intervals marks dropped frames.

    Returns
    -------
    DroppedFrames
        ``count`` is the sum over gaps of ``round(gap / interval) - 1`` (at least 1 per gap).
    """
    times = np.asarray(timestamps_s, dtype=np.float64)
    if times.size < 3:
        return DroppedFrames(0, np.zeros(0, dtype=np.int64), float("nan"))
    intervals = np.diff(times)
    interval = float(np.median(intervals))
    if not interval > 0:
        return DroppedFrames(0, np.zeros(0, dtype=np.int64), interval)
    after = np.flatnonzero(intervals > tolerance * interval)
    missing = np.maximum(np.rint(intervals[after] / interval) - 1, 1)
    return DroppedFrames(int(missing.sum()), after.astype(np.int64), interval)


class ScalarComputer:
    """Turns per-frame tracking features into scalars, chunk after chunk.

    Keeps the previous frame's position and height so velocities are continuous across chunks.

    Parameters
    ----------
    camera : CameraModel
        Converts pixels to millimetres.
    true_depth : float
        Floor depth, millimetres.
    box_origin : (int, int)
        ``(x, y)`` = (column, row) of the ROI bounding box's top-left pixel in the full frame.
    """

    def __init__(self, camera: CameraModel, true_depth: float, box_origin: tuple[int, int]):
        self.camera = camera
        self.true_depth = float(true_depth)
        self.box_origin = (int(box_origin[0]), int(box_origin[1]))
        self.mm_per_px = camera.mm_per_pixel(self.true_depth)
        self._previous: tuple[float, float, float, float, float, float] | None = None

    def compute(
        self,
        x: np.ndarray,
        y: np.ndarray,
        angle: np.ndarray,
        length: np.ndarray,
        width: np.ndarray,
        area: np.ndarray,
        height_mean: np.ndarray,
        timestamps_s: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Scalars of consecutive frames (continuing from the previous call).

        Parameters
        ----------
        x, y : numpy.ndarray
            Centroid relative to the ROI bounding box, pixels; NaN where no animal.
        angle : numpy.ndarray
            Body angle, radians, y up.
        length, width, area, height_mean : numpy.ndarray
            Axis lengths (px), area (px²) and mean height (mm).
        timestamps_s : numpy.ndarray
            Frame times, seconds.

        Returns
        -------
        dict of str to numpy.ndarray
            Every name of :data:`SCALAR_DESCRIPTIONS`; float32 except ``valid`` (bool).
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        valid = np.isfinite(x) & np.isfinite(y)
        full = np.column_stack([x + self.box_origin[0], y + self.box_origin[1]])
        mm = self.camera.pixels_to_mm(full, self.true_depth)
        mm_x, mm_y = self.mm_per_px
        height = np.where(valid, np.asarray(height_mean, dtype=np.float64), np.nan)
        times = np.asarray(timestamps_s, dtype=np.float64)

        series = np.column_stack([x, y, mm[:, 0], mm[:, 1], height, times])
        if self._previous is None:
            previous = series[:1].copy()
        else:
            previous = np.asarray(self._previous, dtype=np.float64)[None, :]
        if series.shape[0]:
            self._previous = tuple(series[-1])
        steps = np.diff(np.vstack([previous, series]), axis=0)
        dx_px, dy_px, dx_mm, dy_mm, dz, dt = steps.T
        with np.errstate(invalid="ignore", divide="ignore"):
            speed_2d_mm = np.hypot(dx_mm, dy_mm)
            speed_3d_mm = np.sqrt(dx_mm**2 + dy_mm**2 + dz**2)
            per_second = np.where(dt > 0, 1.0 / dt, np.nan)
            per_second[(dt == 0) & (speed_3d_mm == 0)] = 0.0
            out = {
                "centroid_x_px": x,
                "centroid_y_px": y,
                "velocity_2d_px": np.hypot(dx_px, dy_px),
                "velocity_3d_px": np.sqrt(dx_px**2 + dy_px**2 + dz**2),
                "width_px": np.where(valid, width, np.nan),
                "length_px": np.where(valid, length, np.nan),
                "area_px": np.where(valid, area, np.nan),
                "centroid_x_mm": mm[:, 0],
                "centroid_y_mm": mm[:, 1],
                "velocity_2d_mm": speed_2d_mm,
                "velocity_3d_mm": speed_3d_mm,
                "width_mm": np.where(valid, width, np.nan) * mm_y,
                "length_mm": np.where(valid, length, np.nan) * mm_x,
                "area_mm": np.where(valid, area, np.nan) * (mm_x * mm_y),
                "height_ave_mm": height,
                "angle": np.where(valid, angle, np.nan),
                "velocity_theta": np.arctan2(dy_mm, dx_mm),
                "velocity_2d_mm_per_s": speed_2d_mm * per_second,
                "velocity_3d_mm_per_s": speed_3d_mm * per_second,
            }
        result = {name: np.asarray(value, dtype=np.float32) for name, value in out.items()}
        result["valid"] = valid
        return result
