"""The static scene of a synthetic session: tilted floor, arena, walls, objects and bedding."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..cameras import CameraModel

__all__ = ["ArenaObject"]

ARENAS = ("round", "square")
WALLS = ("vertical", "sloped")
#: Height of the arena wall above the floor, and how much deeper than the floor the room
#: outside it lies, mm.
_WALL_HEIGHT_MM = 280.0
_ROOM_DROP_MM = 160.0


@dataclass(frozen=True)
class ArenaObject:
    """An object standing on the arena floor: a toy, a water spout, a shelter (static).

    Attributes
    ----------
    shape : {"cylinder", "block"}
        Round or square footprint.
    position : (float, float)
        ``(x, y)`` of its centre from the arena centre, as fractions of the arena's half-size
        (image axes: x to the right, y down).
    size_mm : float
        Diameter (cylinder) or side (block), mm.
    height_mm : float
        Height above the floor, mm.
    """

    shape: str = "cylinder"
    position: tuple[float, float] = (0.5, 0.0)
    size_mm: float = 40.0
    height_mm: float = 60.0

    def __post_init__(self) -> None:
        if self.shape not in ("cylinder", "block"):
            raise ValueError(f"shape must be 'cylinder' or 'block', got {self.shape!r}")
        if not (self.size_mm > 0 and self.height_mm > 0):
            raise ValueError("size_mm and height_mm must be > 0")


@dataclass
class Layout:
    """The static scene in camera pixels (depths in mm)."""

    floor: np.ndarray  # the floor plane's depth everywhere, float32
    floor_plane: tuple[float, float, float, float]
    mm_per_px: float
    centre: tuple[float, float]
    half: float  # arena half-size, px
    shape: str
    arena_mask: np.ndarray
    wall: np.ndarray  # the wall's pixels (they lose more depth readings)
    scene: np.ndarray  # depth of the empty scene, float32
    surface: np.ndarray  # what the animal stands on: the floor, raised by bedding, float32
    obstacles: list[tuple[float, float, float]]  # (x, y, radius) px the animal keeps clear of
    near_wall: np.ndarray | None  # the band inside the wall that reflections reach


def build_layout(
    camera: CameraModel,
    arena: str,
    arena_size_mm: float | None,
    floor_depth_mm: float,
    floor_tilt_deg: tuple[float, float],
    walls: str = "vertical",
    objects: tuple[ArenaObject, ...] = (),
    bedding_mm: float = 0.0,
    reflective_walls: bool = False,
    seed: int = 0,
) -> Layout:
    """The static scene (see :func:`~depthextractors.testing.generate_synthetic_session`)."""
    if arena not in ARENAS:
        raise ValueError(f"arena must be 'round' or 'square', got {arena!r}")
    if walls not in WALLS:
        raise ValueError(f"walls must be one of {WALLS}, got {walls!r}")
    if bedding_mm < 0:
        raise ValueError(f"bedding_mm must be >= 0, got {bedding_mm}")
    rows, cols = camera.image_size
    mm_per_px = camera.mm_per_pixel(floor_depth_mm)[0]
    # Floor plane through the image centre, tilted about both axes.
    cx, cy = (cols - 1) / 2.0, (rows - 1) / 2.0
    slope_x = math.tan(math.radians(floor_tilt_deg[0])) * mm_per_px
    slope_y = math.tan(math.radians(floor_tilt_deg[1])) * mm_per_px
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    floor = (floor_depth_mm + slope_x * (x - cx) + slope_y * (y - cy)).astype(np.float32)
    plane = (slope_x, slope_y, -1.0, floor_depth_mm - slope_x * cx - slope_y * cy)

    # Arena floor, a wall around it, and the room beyond (deeper than the floor).
    if arena_size_mm is None:
        half = 0.42 * min(rows, cols)
    else:
        half = arena_size_mm / 2.0 / mm_per_px
        if half > 0.47 * min(rows, cols):
            raise ValueError(
                f"an arena of {arena_size_mm:g} mm does not fit in the {camera.name} image at "
                f"{floor_depth_mm:g} mm (at most {0.94 * min(rows, cols) * mm_per_px:.0f} mm)"
            )
    if arena == "round":
        distance = np.hypot(x - cx, y - cy)
    else:
        distance = np.maximum(np.abs(x - cx), np.abs(y - cy))
    arena_mask = distance <= half
    rim = 0.03 * min(rows, cols)
    rng = np.random.default_rng([seed, 31337])
    surface = floor
    if bedding_mm:
        surface = (floor - _bedding(rng, (rows, cols), bedding_mm, mm_per_px)).astype(np.float32)
    wall, scene = _walls(walls, distance, half, rim, arena_mask, floor, surface, floor_depth_mm)
    obstacles = []
    for item in objects:
        scene, obstacle = _place_object(item, scene, surface, arena_mask, (cx, cy), half, mm_per_px)
        obstacles.append(obstacle)
    near_wall = None
    if reflective_walls:
        near_wall = arena_mask & (distance > half - 0.06 * min(rows, cols))
        # Light bounced off the wall travels further: the floor beside it reads too deep.
        depth_bias = 12.0 * np.clip(1.0 - (half - distance) / 8.0, 0.0, 1.0)
        scene = np.where(near_wall, scene + depth_bias, scene).astype(np.float32)
    return Layout(
        floor=floor,
        floor_plane=plane,
        mm_per_px=mm_per_px,
        centre=(cx, cy),
        half=half,
        shape=arena,
        arena_mask=arena_mask,
        wall=wall,
        scene=scene,
        surface=surface,
        obstacles=obstacles,
        near_wall=near_wall,
    )


def _walls(
    walls: str,
    distance: np.ndarray,
    half: float,
    rim: float,
    arena_mask: np.ndarray,
    floor: np.ndarray,
    surface: np.ndarray,
    floor_depth_mm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The wall's pixels and the scene's depth (mm): the arena floor, the wall, the room."""
    if walls == "vertical":
        wall = (distance > half) & (distance <= half + rim)
        scene = np.where(arena_mask, surface, floor_depth_mm + _ROOM_DROP_MM)
        return wall, np.where(wall, floor_depth_mm - _WALL_HEIGHT_MM, scene).astype(np.float32)
    # A bucket's sloped side: rising from the floor over a wide band to the rim.
    band = 2.5 * rim
    wall = (distance > half) & (distance <= half + band)
    rise = np.clip((distance - half) / band, 0.0, 1.0) * _WALL_HEIGHT_MM
    scene = np.where(arena_mask, surface, floor_depth_mm + _ROOM_DROP_MM)
    return wall, np.where(wall, floor - rise, scene).astype(np.float32)


def _place_object(
    item: ArenaObject,
    scene: np.ndarray,
    surface: np.ndarray,
    arena_mask: np.ndarray,
    centre: tuple[float, float],
    half: float,
    mm_per_px: float,
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The scene with the object standing in it, and the ``(x, y, radius)`` px it takes."""
    rows, cols = scene.shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    ox = centre[0] + item.position[0] * half
    oy = centre[1] + item.position[1] * half
    radius = item.size_mm / 2.0 / mm_per_px
    if item.shape == "cylinder":
        footprint = np.hypot(x - ox, y - oy) <= radius
        obstacle = (ox, oy, radius)
    else:
        footprint = np.maximum(np.abs(x - ox), np.abs(y - oy)) <= radius
        obstacle = (ox, oy, radius * math.sqrt(2.0))
    top = (surface - item.height_mm).astype(np.float32)
    return np.where(footprint & arena_mask, top, scene).astype(np.float32), obstacle


def _bedding(
    rng: np.random.Generator, size: tuple[int, int], depth_mm: float, mm_per_px: float
) -> np.ndarray:
    """A bedding layer's thickness (mm): smooth random texture of standard deviation
    ``depth_mm / 3`` around ``depth_mm``, never below 0, with grains about 4 mm across."""
    noise = rng.normal(0.0, 1.0, size=size).astype(np.float32)
    sigma = max(4.0 / mm_per_px / 2.0, 0.5)
    texture = cv2.GaussianBlur(noise, (0, 0), sigma)
    texture /= max(float(texture.std()), 1e-6)
    return np.clip(depth_mm + texture * depth_mm / 3.0, 0.0, None)
