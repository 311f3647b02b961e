"""Synthetic arena backgrounds seen by a pinhole depth camera, with their true floor.

A test helper (not the package's generator): it renders what the arena tests need and the
package's generator does not draw: the face of a wall as the camera sees it (5-10 px of a
vertical wall's face near the image edge, a ramp's whole slope), walls that lean, a rim, the room
below the table, and a box standing on a room floor of the same depth with a door in one wall.

Geometry: the camera looks straight down from ``floor_depth_mm`` above the floor (before tilt);
the arena's footprint is a round, square or cross-shaped region around ``centre_mm`` (floor
coordinates, mm, from the optical axis). Outside the footprint the wall rises at ``wall_angle``
degrees from the floor (90: vertical; the arm ends of a cross at ``end_angle``) to
``wall_height_mm``, then a flat rim of ``rim_mm``, then the room ``room_drop_mm`` below the
floor (a table top when negative: the room *above* the floor is not rendered). Each pixel's ray
is marched through that height field and refined by bisection. A floor tilt is added as a
plane of depth (the camera tilted by a few degrees), then sensor blur, noise and the
background's 5 px median blur.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from depthextractors.cameras import get_camera


@dataclass(frozen=True)
class ArenaScene:
    """One synthetic arena: every parameter of :func:`render`."""

    camera: str = "kinect_v2"
    shape: str = "round"
    size_mm: float = 440.0
    arm_width_mm: float = 120.0
    centre_mm: tuple[float, float] = (0.0, 0.0)
    floor_depth_mm: float = 680.0
    wall_angle: float = 90.0
    end_angle: float | None = None
    wall_height_mm: float = 60.0
    rim_mm: float = 20.0
    room_drop_mm: float = 150.0
    tilt_deg: tuple[float, float] = (0.0, 0.0)
    noise_mm: float = 1.0
    blur_px: float = 0.7
    seed: int = 0
    door_mm: float = 0.0


def _outside(scene: ArenaScene, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) outside the arena's footprint and whether the nearest wall is an arm end."""
    x = x - scene.centre_mm[0]
    y = y - scene.centre_mm[1]
    half = scene.size_mm / 2.0
    end = np.zeros(x.shape, dtype=bool)
    if scene.shape == "round":
        return np.hypot(x, y) - half, end
    if scene.shape == "square":
        return np.maximum(np.abs(x) - half, np.abs(y) - half), end
    if scene.shape == "cross":
        arm = scene.arm_width_mm / 2.0
        along_x = np.maximum(np.abs(x) - half, np.abs(y) - arm)
        along_y = np.maximum(np.abs(y) - half, np.abs(x) - arm)
        end = np.where(along_x < along_y, np.abs(x) - half >= np.abs(y) - arm,
                       np.abs(y) - half >= np.abs(x) - arm)  # fmt: skip
        return np.minimum(along_x, along_y), end
    raise ValueError(f"unknown arena shape {scene.shape!r}")


def _height(scene: ArenaScene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height (mm) of the scene above the floor at floor coordinates ``x``, ``y``."""
    outside, end = _outside(scene, x, y)
    angle = np.where(end, scene.end_angle or scene.wall_angle, scene.wall_angle)
    slope = np.tan(np.radians(np.minimum(angle, 89.999)))
    run = np.where(angle >= 89.999, 0.0, scene.wall_height_mm / slope)
    wall = np.where(outside <= run, np.minimum(outside * slope, scene.wall_height_mm),
                    scene.wall_height_mm)  # fmt: skip
    height = np.where(outside <= 0, 0.0, wall)
    height = np.where(outside > run + scene.rim_mm, -scene.room_drop_mm, height)
    if scene.door_mm > 0:
        # A door in the wall on the +y side: floor level through the wall and the rim.
        door = (np.abs(x - scene.centre_mm[0]) < scene.door_mm / 2) & (y > scene.centre_mm[1])
        height = np.where(door & (outside > 0), 0.0, height)
    return height


def render(scene: ArenaScene) -> tuple[np.ndarray, np.ndarray]:
    """The background (mm, float64) and the true floor mask of ``scene``.

    Returns
    -------
    background : numpy.ndarray, shape (rows, cols)
    floor : numpy.ndarray, shape (rows, cols), bool
        Pixels whose ray meets the arena's floor (inside its footprint, height 0).
    """
    camera = get_camera(scene.camera)
    rows, cols = camera.image_size
    fx, fy = camera.focal_length_px()
    cx, cy = camera.principal_point
    xn = (np.arange(cols, dtype=np.float64)[None, :] - cx) / fx * np.ones((rows, 1))
    yn = (np.arange(rows, dtype=np.float64)[:, None] - cy) / fy * np.ones((1, cols))
    top = scene.floor_depth_mm - scene.wall_height_mm - 1.0
    bottom = scene.floor_depth_mm + max(scene.room_drop_mm, 0.0) + 1.0

    def below_surface(t: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        return scene.floor_depth_mm - t <= _height(scene, t * px, t * py)

    # March every ray in steps of 2 mm of depth to the first point under the surface, then
    # bisect that step.
    depth = np.full((rows, cols), bottom)
    # Rays inside the footprint from the wall tops down to the floor meet the floor: only the
    # others are marched.
    inside_top = _outside(scene, top * xn, top * yn)[0] < 0
    inside_floor = _outside(scene, scene.floor_depth_mm * xn, scene.floor_depth_mm * yn)[0] < 0
    on_floor = inside_top & inside_floor
    depth[on_floor] = scene.floor_depth_mm
    # Rays already beyond the rim at the wall tops go down to the room (no door there).
    steepest = min(scene.wall_angle, scene.end_angle or scene.wall_angle)
    run = 0.0 if steepest >= 89.999 else scene.wall_height_mm / math.tan(math.radians(steepest))
    beyond = _outside(scene, top * xn, top * yn)[0] > run + scene.rim_mm + 1.0
    if scene.door_mm > 0:
        beyond &= np.abs(top * xn - scene.centre_mm[0]) > scene.door_mm
    depth[beyond] = scene.floor_depth_mm + scene.room_drop_mm
    on_floor |= beyond
    pending = ~on_floor
    step = 2.0
    for t in np.arange(top, bottom + step, step):
        idx = np.nonzero(pending)
        if idx[0].size == 0:
            break
        hit = below_surface(np.full(idx[0].size, t), xn[idx], yn[idx])
        depth[idx[0][hit], idx[1][hit]] = t
        pending[idx[0][hit], idx[1][hit]] = False
    marched = np.nonzero(~on_floor)
    px, py = xn[marched], yn[marched]
    low, high = depth[marched] - step, depth[marched]
    for _ in range(12):
        middle = (low + high) / 2
        under = below_surface(middle, px, py)
        high = np.where(under, middle, high)
        low = np.where(under, low, middle)
    depth[marched] = high
    outside, _ = _outside(scene, depth * xn, depth * yn)
    floor = (np.abs(depth - scene.floor_depth_mm) < 0.5) & (outside <= 0)
    tilt_x, tilt_y = (math.tan(math.radians(v)) for v in scene.tilt_deg)
    # Tilt as a plane of depth through the image centre (mm per px at the floor's depth).
    mm_per_px = scene.floor_depth_mm / fx
    x = np.arange(cols)[None, :] - cx
    y = np.arange(rows)[:, None] - cy
    depth = depth + (tilt_x * x + tilt_y * y) * mm_per_px
    if scene.blur_px > 0:
        depth = cv2.GaussianBlur(depth.astype(np.float32), (0, 0), scene.blur_px)
    rng = np.random.default_rng(scene.seed)
    depth = depth + rng.normal(0.0, scene.noise_mm, depth.shape)
    depth = cv2.medianBlur(depth.astype(np.float32), 5)
    return np.round(depth).astype(np.float64), floor
