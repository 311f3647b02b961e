"""The ground truth of a synthetic session: what a perfect extraction would report.

The animal's **body** is what lies above ``MouseShape.threshold_mm`` (moseq2's default
``min_height``), its tail excluded. Its scalars are given two ways:

- ``centroid_px``, ``heading``, ``length_px``, ``width_px``, ``area_px``: the moments of the
  body's footprint itself, sampled far finer than a pixel (the body's own centre and axis, as
  the rendering defines it);
- ``contour_centroid_px``: moseq2-extract's definition applied to a perfect frame: the centroid
  of the contour polygon (through the centres of the boundary pixels) of the pixels whose
  centres lie on the body above the threshold, no noise, no tail. This is what the
  ``centroid_*_px`` scalars measure; the two differ by a few hundredths of a pixel on a level
  body and by more on small or posed ones (the polygon leaves out half a boundary pixel).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .occluders import covered_by_hand, distance_to_segment
from .pose import body_moments, posed_heights

if TYPE_CHECKING:
    from .scene import Scene

__all__ = ["SyntheticGroundTruth", "read_ground_truth", "write_ground_truth"]


@dataclass
class SyntheticGroundTruth:
    """What a perfect extraction of a synthetic session would report, per written frame.

    Attributes
    ----------
    centroid_px : numpy.ndarray, shape (frames, 2)
        ``(x, y)`` centroid of the body (above ``threshold_mm``, tail excluded) in full-frame
        pixel coordinates (x = column, y = row; pixel centres at integers).
    heading : numpy.ndarray, shape (frames,)
        Direction the nose points along the body's axis, radians, counter-clockwise from +x
        with y pointing up (moseq2's ``angle`` convention), in ``(-pi, pi]``.
    length_px, width_px : numpy.ndarray, shape (frames,)
        Moment axis lengths of the body (four standard deviations along each axis).
    area_px : numpy.ndarray, shape (frames,)
        Body area above the threshold in pixels.
    height_mean_mm : numpy.ndarray, shape (frames,)
        Mean height of the body above the floor, millimetres.
    speed_px_per_frame : numpy.ndarray, shape (frames,)
        Distance the body centre moved since the previous recorded moment, px.
    moving : numpy.ndarray of bool, shape (frames,)
        Whether the animal was walking (False during pauses).
    visible : numpy.ndarray of bool, shape (frames,)
        Whether the animal can be seen (False while a hand covers its centroid).
    timestamps_ms : numpy.ndarray, shape (frames,)
        Device times written to ``depth_ts.txt``, milliseconds.
    dropped_after : numpy.ndarray of int
        Indices of written frames after which one or more frames were dropped.
    arena_mask : numpy.ndarray of bool, shape (rows, cols)
        The arena floor (inside the walls, objects included).
    floor_depth_mm : numpy.ndarray of float32, shape (rows, cols)
        Depth of the floor plane everywhere (also under walls), millimetres.
    floor_plane : tuple of float
        ``(a, b, c, d)`` with ``a*x + b*y + c*depth + d = 0`` for the floor (x, y in pixels).
    true_depth_mm : float
        Floor depth at the image centre.
    mm_per_px : float
        Size of a pixel on the floor at ``true_depth_mm``.
    tether_segments : numpy.ndarray or None, shape (frames, 2, 2)
        Per frame, the cable's ``(x, y)`` attachment point and anchor in full-frame pixels
        (``None`` without a tether).
    tether_width_px : float
        Cable width in pixels (0 without a tether).
    hand_present : numpy.ndarray of bool, shape (frames,)
        Frames in which an experimenter's hand is in view.
    contour_centroid_px : numpy.ndarray or None, shape (frames, 2)
        moseq2-extract's centroid of a perfect frame (see the module's notes).
    rearing, grooming : numpy.ndarray of bool or None, shape (frames,)
        Frames in which the animal rears / grooms (``None``: the generator drew no bouts).
    peak_height_mm : numpy.ndarray or None, shape (frames,)
        The body's tallest point, millimetres.
    tether_points : numpy.ndarray or None, shape (frames, n, 2)
        The cable's course as a line through ``n`` points (``(x, y)`` px) from the animal to
        the anchor; ``tether_heights`` (frames, n) their heights above the floor, mm.
    background_depth_mm : numpy.ndarray or None, shape (rows, cols)
        The empty scene without noise (floor, bedding, walls, objects), millimetres.
    """

    centroid_px: np.ndarray
    heading: np.ndarray
    length_px: np.ndarray
    width_px: np.ndarray
    area_px: np.ndarray
    height_mean_mm: np.ndarray
    speed_px_per_frame: np.ndarray
    moving: np.ndarray
    visible: np.ndarray
    timestamps_ms: np.ndarray
    dropped_after: np.ndarray
    arena_mask: np.ndarray
    floor_depth_mm: np.ndarray
    floor_plane: tuple[float, float, float, float]
    true_depth_mm: float
    mm_per_px: float
    tether_segments: np.ndarray | None = None
    tether_width_px: float = 0.0
    hand_present: np.ndarray | None = None
    contour_centroid_px: np.ndarray | None = None
    rearing: np.ndarray | None = None
    grooming: np.ndarray | None = None
    peak_height_mm: np.ndarray | None = None
    tether_points: np.ndarray | None = None
    tether_heights: np.ndarray | None = None
    background_depth_mm: np.ndarray | None = None

    def tether_mask(self, index: int) -> np.ndarray:
        """``(rows, cols)`` bool: the pixels the cable covers in frame ``index``.

        Parameters
        ----------
        index : int
            Written frame.

        Returns
        -------
        numpy.ndarray of bool
            ``(rows, cols)``, True under the cable (all False without a tether).
        """
        mask = np.zeros(self.arena_mask.shape, dtype=bool)
        if self.tether_segments is None:
            return mask
        points = self.tether_segments[index] if self.tether_points is None else (
            self.tether_points[index]
        )  # fmt: skip
        rows, cols = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
        for k in range(points.shape[0] - 1):
            distance, _ = distance_to_segment(cols, rows, points[k], points[k + 1])
            mask |= distance <= self.tether_width_px / 2.0
        return mask


def scene_truth(scene: Scene) -> SyntheticGroundTruth:
    """The ground truth of everything a scene renders."""
    mouse, layout, path, poses = scene.mouse, scene.layout, scene.path, scene.poses
    mm_per_px = layout.mm_per_px
    frames = path.positions.shape[0]
    moments = mouse.footprint_moments(mm_per_px)
    offset = moments["centroid_offset_px"] * poses.stretch
    cos_d, sin_d = np.cos(path.directions), np.sin(path.directions)
    centroid = path.positions + offset[:, None] * np.column_stack([cos_d, sin_d])
    heading = np.angle(np.exp(-1j * path.directions))
    heading[heading == -np.pi] = np.pi
    length = moments["length_px"] * poses.stretch
    width = moments["width_px"] / np.sqrt(poses.stretch)
    area = moments["area_px"] * np.sqrt(poses.stretch)
    height_mean = np.full(frames, moments["height_mean_mm"])
    level_peak = body_moments(mouse, mm_per_px, 1.0, 0.0, 0.0, 1.0)["peak_mm"]
    peak = np.full(frames, level_peak)
    for i in range(frames):
        if poses.neutral(i):
            continue
        posed = body_moments(
            mouse, mm_per_px, poses.stretch[i], poses.curvature[i], poses.pitch[i],
            poses.hunch[i], samples=60_000,
        )  # fmt: skip
        dx = (posed["u"] * cos_d[i] - posed["v"] * sin_d[i]) / mm_per_px
        dy = (posed["u"] * sin_d[i] + posed["v"] * cos_d[i]) / mm_per_px
        centroid[i] = path.positions[i] + (dx, dy)
        heading[i] = math.remainder(-(path.directions[i] + posed["axis"]), 2 * math.pi)
        length[i], width[i], area[i] = posed["length_px"], posed["width_px"], posed["area_px"]
        height_mean[i], peak[i] = posed["height_mean_mm"], posed["peak_mm"]
    cable = scene.cable
    return SyntheticGroundTruth(
        centroid_px=centroid,
        heading=heading,
        length_px=length,
        width_px=width,
        area_px=area,
        height_mean_mm=height_mean,
        speed_px_per_frame=path.speeds,
        moving=path.moving.copy(),
        visible=~covered_by_hand(scene.hand, centroid),
        timestamps_ms=path.timestamps_ms.copy(),
        dropped_after=path.dropped_after.copy(),
        arena_mask=layout.arena_mask.copy(),
        floor_depth_mm=layout.floor.copy(),
        floor_plane=tuple(float(v) for v in layout.floor_plane),
        true_depth_mm=scene.true_depth,
        mm_per_px=float(mm_per_px),
        tether_segments=None if cable is None else cable.points[:, [0, -1]].copy(),
        tether_width_px=0.0 if cable is None else cable.width_px,
        hand_present=scene.hand.present.copy(),
        contour_centroid_px=contour_centroids(scene),
        rearing=None if scene.behaviour is None else poses.rearing.copy(),
        grooming=None if scene.behaviour is None else poses.grooming.copy(),
        peak_height_mm=peak,
        tether_points=None if cable is None or cable.tether.straight else cable.points.copy(),
        tether_heights=None if cable is None else cable.heights.copy(),
        background_depth_mm=layout.scene.copy(),
    )


def contour_centroids(scene: Scene) -> np.ndarray:
    """``(frames, 2)`` moseq2-extract's centroid of each frame rendered without noise: the
    contour polygon of the pixels whose centres lie on the body above the threshold."""
    mouse, layout, path, poses = scene.mouse, scene.layout, scene.path, scene.poses
    mm_per_px = layout.mm_per_px
    rows, cols = layout.floor.shape
    out = np.full((path.positions.shape[0], 2), np.nan)
    for i, (x0, y0) in enumerate(path.positions):
        reach = math.ceil(mouse.half_length_mm * 1.6 * max(poses.stretch[i], 1.0) / mm_per_px) + 2
        r0, r1 = max(round(y0) - reach, 0), min(round(y0) + reach + 1, rows)
        c0, c1 = max(round(x0) - reach, 0), min(round(x0) + reach + 1, cols)
        yy, xx = np.mgrid[r0:r1, c0:c1]
        dx, dy = (xx - x0) * mm_per_px, (yy - y0) * mm_per_px
        cos_d, sin_d = math.cos(path.directions[i]), math.sin(path.directions[i])
        u, v = dx * cos_d + dy * sin_d, -dx * sin_d + dy * cos_d
        body, _ = posed_heights(
            mouse, u, v, poses.stretch[i], poses.curvature[i], poses.pitch[i], poses.hunch[i]
        )
        mask = (body > mouse.threshold_mm).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        if count <= 1:
            continue
        largest = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
        contours, _ = cv2.findContours(largest, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        polygon = cv2.moments(max(contours, key=cv2.contourArea))
        if polygon["m00"] > 0:
            out[i] = (polygon["m10"] / polygon["m00"] + c0, polygon["m01"] / polygon["m00"] + r0)
    return out


#: Per-frame arrays :func:`write_ground_truth` stores (with the fixed ones below).
_FRAME_FIELDS = (
    "centroid_px", "contour_centroid_px", "heading", "length_px", "width_px", "area_px",
    "height_mean_mm", "peak_height_mm", "speed_px_per_frame", "moving", "visible",
    "timestamps_ms", "hand_present", "rearing", "grooming", "tether_segments", "tether_points",
    "tether_heights",
)  # fmt: skip
_FIXED_FIELDS = ("dropped_after", "arena_mask", "floor_depth_mm", "background_depth_mm")


def write_ground_truth(directory: str | os.PathLike, truth: SyntheticGroundTruth) -> Path:
    """Write a session's ground truth beside its frames, as ``ground_truth.npz``.

    Parameters
    ----------
    directory : path-like
        The session directory.
    truth : SyntheticGroundTruth
        Its ground truth.

    Returns
    -------
    pathlib.Path
        The file written. It holds every per-frame array of ``truth`` (absent ones left out),
        ``body_axis`` (the body axis without its direction: ``heading`` folded into
        ``(-pi/2, pi/2]``, radians), the arena mask, the floor and background depths (mm),
        ``floor_plane``, ``true_depth_mm``, ``mm_per_px`` and ``tether_width_px``. The same
        truth gives the same bytes.
    """
    arrays = {
        name: np.asarray(getattr(truth, name))
        for name in (*_FRAME_FIELDS, *_FIXED_FIELDS)
        if getattr(truth, name) is not None
    }
    axis = np.mod(truth.heading + np.pi / 2, np.pi) - np.pi / 2
    arrays["body_axis"] = np.where(axis == -np.pi / 2, np.pi / 2, axis)
    arrays["floor_plane"] = np.asarray(truth.floor_plane)
    for name in ("true_depth_mm", "mm_per_px", "tether_width_px"):
        arrays[name] = np.asarray(getattr(truth, name))
    path = Path(directory) / "ground_truth.npz"
    np.savez_compressed(path, **arrays)
    return path


def read_ground_truth(directory: str | os.PathLike) -> SyntheticGroundTruth:
    """Read the ground truth :func:`write_ground_truth` wrote in a session directory.

    Parameters
    ----------
    directory : path-like
        The session directory (holding ``ground_truth.npz``).

    Returns
    -------
    SyntheticGroundTruth
    """
    with np.load(Path(directory) / "ground_truth.npz") as stored:
        values = {name: stored[name] for name in stored.files if name != "body_axis"}
    values["floor_plane"] = tuple(float(v) for v in values["floor_plane"])
    for name in ("true_depth_mm", "mm_per_px", "tether_width_px"):
        values[name] = float(values[name])
    return SyntheticGroundTruth(**values)
