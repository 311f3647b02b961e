"""Per-frame scalars: moseq2-extract's 17, with its meanings, and this project's own beside them.

The 17 scalars of moseq2-extract keep moseq2-extract 1.4.0's definitions, frame of reference,
units and conventions for missing frames, so sessions extracted by either tool mix without a
batch effect:

- ``centroid_x_px`` / ``centroid_y_px``: the centroid of the animal's contour polygon, relative
  to the top-left corner of the ROI's bounding box (x = column, y = row, rows pointing down);
- ``width_px`` / ``length_px``: the minor and major axes (four standard deviations) of that
  polygon's moments; ``angle``: its orientation, radians, counter-clockwise from +x with y up,
  unwrapped over the session (flips add pi);
- ``area_px`` / ``height_ave_mm``: the number and mean height of the pixels of the cropped,
  rotated, filtered frame strictly between ``min_height`` and ``max_height`` (anything in the
  crop, not only the animal); 0 where the animal was not found;
- ``centroid_x_mm`` / ``centroid_y_mm``: the ROI-relative centroid converted as moseq2-extract
  converts it, as if it were a Kinect v2 full-frame pixel (image centre (256, 212), 70.6 x 60
  degrees) at the true depth, whatever the camera; ``width_mm`` / ``length_mm`` /
  ``area_mm`` (mm²) use the same Kinect v2 pixel size (``length_mm`` the x size, ``width_mm``
  the y size);
- velocities are differences from the previous frame (moseq2's "per frame", 0 for the first
  frame), ``velocity_3d_*`` include the change of ``height_ave_mm`` in millimetres, and
  ``velocity_theta`` is ``arctan2(dy_mm, dx_mm)``; NaN next to a frame without the animal.

Where this project computes something better, it is kept under a new name:

- ``body_centroid_x_px`` / ``body_centroid_y_px``: the centre of the animal's body pixels, in
  the same frame of reference as ``centroid_x_px`` (:mod:`.body_centroid`: the threshold
  means "above ``min_height``" for heights rounded down, and what the tail filter trimmed of
  the snout and flanks is put back); closer to the body's centre than moseq2-extract's
  contour centroid, which the crops keep following;
- ``body_angle``: the axis of the same body pixels' second moments, turned to the heading of
  ``angle`` (within 90 degrees of it, so the flip corrector's choice of head and tail and the
  unwrapping carry over); ``angle`` keeps moseq2-extract's meaning (the trimmed contour's
  axis) and the crops follow it;
- ``centroid_x_floor_mm`` / ``centroid_y_floor_mm``: the full-frame position on the floor, mm
  from the optical axis, with the recording's own camera model
  (:meth:`~depthextractors.cameras.CameraModel.pixels_to_mm`);
- ``body_length_px``, ``body_width_px``, ``body_area_px``, ``body_height_mean_mm``: the axes of
  the moments of the animal's filled pixel set (the polygon is half a pixel smaller all round),
  its pixel count and mean height; ``body_length_mm``, ``body_width_mm``, ``body_area_mm2`` with
  the recording's own pixel size at the true depth;
- ``velocity_2d_mm_per_s`` / ``velocity_3d_mm_per_s``: floor speeds divided by the real time
  between the frames (dropped frames do not inflate them), the 3-D one with the body's height;
- ``valid``: whether the animal was found. The new scalars are NaN where it was not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..cameras import CAMERA_PRESETS, CameraModel

__all__ = [
    "MOSEQ2_SCALARS",
    "NEW_SCALARS",
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
    "area_px": "Mouse area (pixels of the cropped frame between min_height and max_height)",
    "centroid_x_mm": (
        "X centroid (mm, the ROI-relative pixel position converted as a Kinect v2 pixel at the "
        "floor depth, as moseq2-extract)"
    ),
    "centroid_y_mm": (
        "Y centroid (mm, the ROI-relative pixel position converted as a Kinect v2 pixel at the "
        "floor depth, as moseq2-extract)"
    ),
    "velocity_2d_mm": "2D velocity (mm / frame), note that missing frames are not accounted for",
    "velocity_3d_mm": "3D velocity (mm / frame), note that missing frames are not accounted for",
    "width_mm": "Mouse width (mm)",
    "length_mm": "Mouse length (mm)",
    "area_mm": "Mouse area (mm^2)",
    "height_ave_mm": "Mouse average height (mm)",
    "angle": "Angle (radians, unwrapped, counter-clockwise from +x with y pointing up)",
    "velocity_theta": "Angular component of velocity (arctan2(vel_y, vel_x), radians)",
    "body_centroid_x_px": (
        "X centre of the mouse's body pixels (pixels, from the left edge of the ROI bounding "
        "box; the tail filter's trimming of snout and flanks undone)"
    ),
    "body_centroid_y_px": (
        "Y centre of the mouse's body pixels (pixels, from the top edge of the ROI bounding "
        "box; the tail filter's trimming of snout and flanks undone)"
    ),
    "body_angle": (
        "Axis of the mouse's body pixels (radians, counter-clockwise from +x with y pointing "
        "up; within 90 degrees of angle, unwrapped with it)"
    ),
    "centroid_x_floor_mm": (
        "X centroid on the floor (mm from the optical axis, full-frame pixel position and the "
        "recording's camera model at the floor depth)"
    ),
    "centroid_y_floor_mm": (
        "Y centroid on the floor (mm from the optical axis, full-frame pixel position and the "
        "recording's camera model at the floor depth)"
    ),
    "body_length_px": "Mouse length from the moments of its filled pixel set (pixels)",
    "body_width_px": "Mouse width from the moments of its filled pixel set (pixels)",
    "body_area_px": "Pixels of the tracked mouse (pixels)",
    "body_height_mean_mm": "Mean height of the tracked mouse's pixels (mm)",
    "body_length_mm": "Mouse length from its filled pixel set, camera's pixel size (mm)",
    "body_width_mm": "Mouse width from its filled pixel set, camera's pixel size (mm)",
    "body_area_mm2": "Area of the tracked mouse, camera's pixel size (mm^2)",
    "velocity_2d_mm_per_s": (
        "2D speed on the floor (mm / s) from the frame timestamps; dropped frames are accounted for"
    ),
    "velocity_3d_mm_per_s": (
        "3D speed (mm / s) from the frame timestamps, the body's height change included; "
        "dropped frames are accounted for"
    ),
    "valid": "Whether the animal was found in the frame (false: the other scalars are NaN)",
}

#: This project's scalars, beside moseq2-extract's 17, in the order they are written.
NEW_SCALARS: tuple[str, ...] = (
    "body_centroid_x_px",
    "body_centroid_y_px",
    "body_angle",
    "centroid_x_floor_mm",
    "centroid_y_floor_mm",
    "body_length_px",
    "body_width_px",
    "body_area_px",
    "body_height_mean_mm",
    "body_length_mm",
    "body_width_mm",
    "body_area_mm2",
    "velocity_2d_mm_per_s",
    "velocity_3d_mm_per_s",
    "valid",
)


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


#: moseq2-extract converts pixels to millimetres with these whatever the camera.
_MOSEQ2_CAMERA = CAMERA_PRESETS["kinect_v2"]


class ScalarComputer:
    """Turns per-frame tracking features into scalars, chunk after chunk.

    Keeps the previous frame's values so velocities are continuous across chunks.

    Parameters
    ----------
    camera : CameraModel
        The recording's camera (the ``*_floor_mm`` and ``body_*_mm`` scalars).
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
        self.moseq2_mm_per_px = _MOSEQ2_CAMERA.mm_per_pixel(self.true_depth)
        self._previous: np.ndarray | None = None

    def compute(self, features: dict[str, np.ndarray], timestamps_s: np.ndarray) -> dict:
        """Scalars of consecutive frames (continuing from the previous call).

        Parameters
        ----------
        features : dict of str to numpy.ndarray
            ``(n,)`` each, NaN where no animal: ``x``, ``y`` (contour centroid relative to the
            ROI box, px), ``angle`` (radians, y up), ``length``, ``width`` (contour axes, px),
            ``crop_area`` (px) and ``crop_height`` (mm) of the cropped filtered frame (0 where
            no animal), ``body_length``, ``body_width`` (filled-pixel axes, px),
            ``body_area`` (px), ``body_height`` (mm), ``body_x``, ``body_y`` (the body
            centroid relative to the ROI box, px) and ``body_axis`` (the body's axis,
            radians modulo pi, y up).
        timestamps_s : numpy.ndarray
            Frame times, seconds.

        Returns
        -------
        dict of str to numpy.ndarray
            Every name of :data:`SCALAR_DESCRIPTIONS`; float32 except ``valid`` (bool).
        """
        x = np.asarray(features["x"], dtype=np.float64)
        y = np.asarray(features["y"], dtype=np.float64)
        valid = np.isfinite(x) & np.isfinite(y)
        moseq2_mm = _MOSEQ2_CAMERA.pixels_to_mm(np.column_stack([x, y]), self.true_depth)
        floor_mm = self.camera.pixels_to_mm(
            np.column_stack([x + self.box_origin[0], y + self.box_origin[1]]), self.true_depth
        )
        crop_height = np.asarray(features["crop_height"], dtype=np.float64)
        body_height = np.where(valid, np.asarray(features["body_height"], np.float64), np.nan)
        times = np.asarray(timestamps_s, dtype=np.float64)
        series = np.column_stack([x, y, moseq2_mm, crop_height, floor_mm, body_height, times])
        steps = self._steps(series)
        out = self._moseq2_scalars(features, valid, moseq2_mm, steps)
        out.update(self._new_scalars(features, valid, floor_mm, steps))
        result = {name: np.asarray(value, dtype=np.float32) for name, value in out.items()}
        result["valid"] = valid
        return result

    def _steps(self, series: np.ndarray) -> np.ndarray:
        """Differences from the previous frame (the first frame of the session: 0)."""
        previous = series[:1] if self._previous is None else self._previous[None, :]
        if series.shape[0]:
            self._previous = series[-1].copy()
        return np.diff(np.vstack([previous, series]), axis=0)

    def _moseq2_scalars(
        self, features: dict, valid: np.ndarray, mm: np.ndarray, steps: np.ndarray
    ) -> dict[str, np.ndarray]:
        dx_px, dy_px, dx_mm, dy_mm, dz = steps[:, :5].T
        mm_x, mm_y = self.moseq2_mm_per_px
        # moseq2-extract's pixel size comes from the centroid: unknown where it is.
        scale_x = np.where(valid, mm_x, np.nan)
        scale_y = np.where(valid, mm_y, np.nan)
        width = np.where(valid, features["width"], np.nan)
        length = np.where(valid, features["length"], np.nan)
        area = np.where(valid, features["crop_area"], 0.0)
        with np.errstate(invalid="ignore"):
            return {
                "centroid_x_px": features["x"],
                "centroid_y_px": features["y"],
                "velocity_2d_px": np.hypot(dx_px, dy_px),
                "velocity_3d_px": np.sqrt(dx_px**2 + dy_px**2 + dz**2),
                "width_px": width,
                "length_px": length,
                "area_px": area,
                "centroid_x_mm": mm[:, 0],
                "centroid_y_mm": mm[:, 1],
                "velocity_2d_mm": np.hypot(dx_mm, dy_mm),
                "velocity_3d_mm": np.sqrt(dx_mm**2 + dy_mm**2 + dz**2),
                "width_mm": width * scale_y,
                "length_mm": length * scale_x,
                "area_mm": area * scale_x * scale_y,
                "height_ave_mm": np.where(valid, features["crop_height"], 0.0),
                "angle": np.where(valid, features["angle"], np.nan),
                "velocity_theta": np.arctan2(dy_mm, dx_mm),
            }

    def _new_scalars(
        self, features: dict, valid: np.ndarray, floor_mm: np.ndarray, steps: np.ndarray
    ) -> dict[str, np.ndarray]:
        dx, dy, dz, dt = steps[:, 5:9].T
        mm_x, mm_y = self.mm_per_px
        body = {
            name: np.where(valid, np.asarray(features[name], np.float64), np.nan)
            for name in (
                "body_length",
                "body_width",
                "body_area",
                "body_height",
                "body_x",
                "body_y",
            )
        }
        with np.errstate(invalid="ignore", divide="ignore"):
            speed_2d = np.hypot(dx, dy)
            speed_3d = np.sqrt(dx**2 + dy**2 + dz**2)
            per_second = np.where(dt > 0, 1.0 / dt, np.nan)
            per_second[(dt == 0) & (speed_3d == 0)] = 0.0
            return {
                "body_centroid_x_px": body["body_x"],
                "body_centroid_y_px": body["body_y"],
                "body_angle": _turned_to(features["body_axis"], features["angle"], valid),
                "centroid_x_floor_mm": floor_mm[:, 0],
                "centroid_y_floor_mm": floor_mm[:, 1],
                "body_length_px": body["body_length"],
                "body_width_px": body["body_width"],
                "body_area_px": body["body_area"],
                "body_height_mean_mm": body["body_height"],
                "body_length_mm": body["body_length"] * mm_x,
                "body_width_mm": body["body_width"] * mm_y,
                "body_area_mm2": body["body_area"] * (mm_x * mm_y),
                "velocity_2d_mm_per_s": speed_2d * per_second,
                "velocity_3d_mm_per_s": speed_3d * per_second,
            }


def _turned_to(axis: np.ndarray, angle: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The axis (radians, modulo pi) as the direction within 90 degrees of ``angle``: the
    angle's heading and unwrapping, the axis's orientation; NaN where not valid."""
    angle = np.asarray(angle, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        turn = np.mod(np.asarray(axis, dtype=np.float64) - angle + math.pi / 2, math.pi)
    return np.where(valid, angle + turn - math.pi / 2, np.nan)
