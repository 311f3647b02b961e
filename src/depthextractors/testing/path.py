"""The synthetic animal's path: walking with pauses and turns, kept off the walls and objects."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .animal import MouseShape
from .layout import Layout

__all__: list[str] = []


@dataclass
class Path:
    """Per written frame: where the body centre is and where it points (pixels, radians)."""

    positions: np.ndarray  # (frames, 2) x, y
    directions: np.ndarray  # image coordinates (y down)
    stretches: np.ndarray
    moving: np.ndarray
    timestamps_ms: np.ndarray
    dropped_after: np.ndarray
    speeds: np.ndarray


def simulate_path(
    layout: Layout,
    mouse: MouseShape,
    num_frames: int,
    dropped_frames: int,
    fs: float,
    rng: np.random.Generator,
    speed_mm_s: float | None = None,
) -> Path:
    """Walk the animal around the arena; ``dropped_frames`` of it are not written.

    The walking speed averages 2.2 px per frame, or ``speed_mm_s`` when given.
    """
    total = num_frames + dropped_frames
    mouse_reach_px = (mouse.half_length_mm * 1.2) / layout.mm_per_px
    limit = layout.half - mouse_reach_px - 2.0
    if limit <= 0:
        raise ValueError(
            f"the animal ({2 * mouse.half_length_mm:g} mm long) does not fit in the arena; "
            "make the arena larger or the animal smaller"
        )
    cx, cy = layout.centre
    clearance = [(ox, oy, radius + mouse_reach_px + 2.0) for ox, oy, radius in layout.obstacles]
    position = np.array([cx, cy], dtype=np.float64) + rng.uniform(-0.3, 0.3, 2) * limit
    position = _clear_start(position, clearance, layout, limit)
    direction = rng.uniform(-math.pi, math.pi)  # image coordinates (y down)
    scale = 1.0 if speed_mm_s is None else speed_mm_s / fs / (2.2 * layout.mm_per_px)
    speed, turn = 0.0, 0.0
    moving = True
    remaining = int(rng.exponential(1.5 * fs)) + 5
    positions = np.empty((total, 2))
    directions = np.empty(total)
    stretches = np.empty(total)
    is_moving = np.empty(total, dtype=bool)
    for i in range(total):
        remaining -= 1
        if remaining <= 0:
            moving = not moving
            remaining = int(rng.exponential((1.8 if moving else 0.8) * fs)) + 5
        if moving:
            speed += 0.15 * (2.2 - speed) + rng.normal(0.0, 0.25)
            speed = float(np.clip(speed, 0.6, 4.5))
            turn = 0.85 * turn + rng.normal(0.0, 0.02)
        else:
            speed *= 0.6
            # Standing animals look around: slow head-and-body turns in place.
            turn = 0.9 * turn + rng.normal(0.0, 0.006)
        if speed > 0.3:
            turn += _steer_off_wall(position - (cx, cy), direction, layout.shape, limit)
            if clearance:
                turn += _steer_round(position, direction, clearance)
        turn = float(np.clip(turn, -0.12, 0.12))
        direction += turn
        step = speed * np.array([math.cos(direction), math.sin(direction)])
        if scale != 1.0:
            step *= scale
        candidate = position + step
        off = candidate - (cx, cy)
        if _extent(off, layout.shape) <= limit and not _blocked(candidate, clearance):
            position = candidate
        else:
            speed *= 0.3
        positions[i] = position
        directions[i] = direction
        stretches[i] = 1.0 + 0.06 * np.tanh((speed - 2.0) / 1.5)
        is_moving[i] = moving and speed > 0.3

    times, kept = _recording(total, dropped_frames, fs, rng)
    speed_all = np.r_[0.0, np.hypot(*np.diff(positions, axis=0).T)]
    return Path(
        positions=positions[kept],
        directions=directions[kept],
        stretches=stretches[kept],
        moving=is_moving[kept],
        timestamps_ms=times[kept],
        dropped_after=np.flatnonzero(np.diff(kept) > 1),
        speeds=speed_all[kept],
    )


def _recording(
    total: int, dropped_frames: int, fs: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Device times (ms) of every simulated frame, and the indices of the frames written."""
    interval_ms = 1000.0 / fs
    times = 1_000_000.0 + np.arange(total) * interval_ms + rng.normal(0.0, 0.3, total)
    keep = np.ones(total, dtype=bool)
    if dropped_frames:
        dropped = rng.choice(np.arange(5, total - 5), size=dropped_frames, replace=False)
        keep[dropped] = False
    return times, np.flatnonzero(keep)


def _extent(offset: np.ndarray, shape: str) -> float:
    """How far out (px) a point ``offset`` px from the centre lies, for the arena's shape."""
    return np.hypot(*offset) if shape == "round" else np.max(np.abs(offset))


def _steer_off_wall(offset: np.ndarray, direction: float, shape: str, limit: float) -> float:
    """Turn (radians) towards the centre when heading out near the wall (0 away from it)."""
    nearness = _extent(offset, shape) / limit
    if nearness <= 0.75:
        return 0.0
    to_centre = math.atan2(-offset[1], -offset[0])
    error = math.atan2(math.sin(to_centre - direction), math.cos(to_centre - direction))
    return 0.06 * (nearness - 0.75) / 0.25 * error


def _blocked(point: np.ndarray, clearance: list[tuple[float, float, float]]) -> bool:
    return any(math.hypot(point[0] - ox, point[1] - oy) < r for ox, oy, r in clearance)


def _steer_round(
    position: np.ndarray, direction: float, clearance: list[tuple[float, float, float]]
) -> float:
    """Turn (radians) away from objects the animal is heading for."""
    turn = 0.0
    for ox, oy, radius in clearance:
        dx, dy = ox - position[0], oy - position[1]
        gap = math.hypot(dx, dy) - radius
        if gap > 20.0:
            continue
        bearing = math.atan2(dy, dx)
        error = math.atan2(math.sin(bearing - direction), math.cos(bearing - direction))
        if abs(error) < math.pi / 2:
            # Away from the object, harder the closer it is.
            turn -= 0.05 * math.copysign(1.0, error) * (1.0 - max(gap, 0.0) / 20.0)
    return turn


def _clear_start(
    position: np.ndarray,
    clearance: list[tuple[float, float, float]],
    layout: Layout,
    limit: float,
) -> np.ndarray:
    """A start clear of the objects: the given one, else the nearest free point on a spiral."""
    if not _blocked(position, clearance):
        return position
    cx, cy = layout.centre
    for k in range(1, 400):
        angle, radius = 0.5 * k, limit * min(k / 400.0, 0.95)
        candidate = np.array([cx + radius * math.cos(angle), cy + radius * math.sin(angle)])
        if not _blocked(candidate, clearance):
            return candidate
    raise ValueError("the objects leave the animal no room in the arena")
