"""What comes between the camera and the animal: the tether, an experimenter's hand.

Both are drawn over a frame where they are nearer the camera than what it already shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .animal import MouseShape, Tether
from .layout import Layout
from .path import Path
from .pose import Poses, posed_heights, project_body_point

__all__: list[str] = []

#: Points along a cable that sags or bows (a straight cable needs only its two ends).
CABLE_POINTS = 33


@dataclass
class Cable:
    """The tether's course in every written frame (pixels; heights in mm above the floor)."""

    tether: Tether
    points: np.ndarray  # (frames, n, 2): x, y from the attachment to the anchor
    heights: np.ndarray  # (frames, n)
    width_px: float
    mm_per_px: float


def place_cable(
    tether: Tether,
    layout: Layout,
    path: Path,
    poses: Poses,
    mouse: MouseShape,
    rng: np.random.Generator,
    sized: tuple[int, int],
) -> Cable:
    """The cable's course: from the attachment on the animal to the wall anchor or commutator."""
    mm_per_px = layout.mm_per_px
    cos_d, sin_d = np.cos(path.directions), np.sin(path.directions)
    attach_heights = np.full(path.positions.shape[0], tether.attach_height_mm)
    if all(poses.neutral(i) for i in range(poses.stretch.size)):
        offset_px = tether.attach_offset * mouse.half_length_mm / mm_per_px
        attach = path.positions + offset_px * np.column_stack([cos_d, sin_d])
    else:
        attach = np.empty_like(path.positions)
        for i in range(attach.shape[0]):
            u = tether.attach_offset * mouse.half_length_mm
            pose = (poses.stretch[i], poses.curvature[i], poses.pitch[i])
            pu, pv = project_body_point(mouse, u, *pose)
            attach[i] = (
                path.positions[i]
                + np.array([pu * cos_d[i] - pv * sin_d[i], pu * sin_d[i] + pv * cos_d[i]])
                / mm_per_px
            )
            # The cable rises and falls with the back it leaves.
            posed, _ = posed_heights(mouse, np.array(pu), np.array(pv), *pose, poses.hunch[i])
            level, _ = posed_heights(mouse, np.array(pu), np.array(pv), poses.stretch[i])
            attach_heights[i] += float(posed) - float(level)
    cx, cy = layout.centre
    if tether.route == "wall":
        times = (path.timestamps_ms - path.timestamps_ms[0]) / 1000.0
        swing = np.radians(tether.sway_deg) * np.sin(2 * np.pi * times / tether.sway_period_s)
        angle = rng.uniform(-np.pi, np.pi) + swing
        reach = layout.half + 0.06 * min(sized)
        anchor = np.column_stack([cx + reach * np.cos(angle), cy + reach * np.sin(angle)])
    else:
        ox, oy = tether.commutator_offset
        anchor = np.tile([cx + ox * layout.half, cy + oy * layout.half], (attach.shape[0], 1))
    width_px = tether.width_mm / mm_per_px
    if tether.straight:
        points = np.stack([attach, anchor], axis=1)
        heights = np.column_stack([attach_heights, np.full(attach.shape[0], tether.top_height_mm)])
        return Cable(tether, points, heights, width_px, mm_per_px)
    t = np.linspace(0.0, 1.0, CABLE_POINTS)
    sag = (t / tether.slack_at) * np.exp(1.0 - t / tether.slack_at)
    chord = anchor - attach
    normal = (
        np.column_stack([-chord[:, 1], chord[:, 0]]) / np.maximum(np.hypot(*chord.T), 1e-9)[:, None]
    )
    points = (
        attach[:, None, :]
        + t[None, :, None] * chord[:, None, :]
        + (tether.bow_mm / mm_per_px) * sag[None, :, None] * normal[:, None, :]
    )
    rise = tether.top_height_mm - attach_heights[:, None]
    heights = attach_heights[:, None] + t[None, :] * rise - tether.slack_mm * sag[None, :]
    heights = np.maximum(heights, tether.width_mm / 2.0)
    return Cable(tether, points, heights, width_px, mm_per_px)


def distance_to_segment(
    x: np.ndarray, y: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance (px) of points to a segment, and the fraction along it of their projection."""
    direction = np.asarray(end, dtype=np.float64) - start
    length2 = float(direction @ direction) or 1.0
    along = np.clip(((x - start[0]) * direction[0] + (y - start[1]) * direction[1]) / length2, 0, 1)
    distance = np.hypot(
        x - (start[0] + along * direction[0]), y - (start[1] + along * direction[1])
    )
    return distance, along


def draw_cable(
    frame: np.ndarray,
    cable: Cable,
    index: int,
    surface: np.ndarray,
    noise_mm: float,
    rng: np.random.Generator,
    mouse_at: tuple[np.ndarray, float] | None = None,
) -> None:
    """Draw the cable of frame ``index`` (and its connector) over ``frame``."""
    tether = cable.tether
    points, heights = cable.points[index], cable.heights[index]
    half_width = cable.width_px / 2.0
    rows, cols = frame.shape
    if tether.connector_mm:
        radius = tether.connector_mm / 2.0 / cable.mm_per_px
        x, y = points[0]
        box = _box(x - radius, x + radius, y - radius, y + radius, rows, cols)
        if box is not None:
            yy, xx = np.mgrid[box[0] : box[1], box[2] : box[3]]
            inside = np.hypot(xx - x, yy - y) <= radius
            paint(frame, surface, box, inside, np.full(inside.shape, heights[0]), noise_mm, rng)
    for k in range(points.shape[0] - 1):
        start, end = points[k], points[k + 1]
        box = _box(
            min(start[0], end[0]) - half_width,
            max(start[0], end[0]) + half_width,
            min(start[1], end[1]) - half_width,
            max(start[1], end[1]) + half_width,
            rows,
            cols,
        )
        if box is None:
            continue
        yy, xx = np.mgrid[box[0] : box[1], box[2] : box[3]]
        distance, along = distance_to_segment(xx, yy, start, end)
        height = heights[k] + along * (heights[k + 1] - heights[k])
        if tether.partial_pixels:
            covered = np.clip(np.minimum(cable.width_px, half_width + 0.5 - distance), 0.0, 1.0)
            where = rng.random(distance.shape) < covered
        else:
            where = distance <= half_width
        paint(frame, surface, box, where, height, noise_mm, rng)


def _box(x0, x1, y0, y1, rows, cols) -> tuple[int, int, int, int] | None:
    """``(r0, r1, c0, c1)`` of the pixels around an extent, clipped to the frame."""
    r0, r1 = max(int(y0) - 1, 0), min(int(y1) + 2, rows)
    c0, c1 = max(int(x0) - 1, 0), min(int(x1) + 2, cols)
    if r0 >= r1 or c0 >= c1:
        return None
    return r0, r1, c0, c1


def paint(
    frame: np.ndarray,
    surface: np.ndarray,
    box: tuple[int, int, int, int],
    where: np.ndarray,
    height: np.ndarray,
    noise_mm: float,
    rng: np.random.Generator,
) -> None:
    """Draw a surface ``height`` mm above ``surface`` where it is nearer than the frame shows."""
    r0, r1, c0, c1 = box
    patch = frame[r0:r1, c0:c1]
    noise = rng.normal(0.0, noise_mm, size=where.shape)
    depth = np.clip(np.rint(surface[r0:r1, c0:c1] - height + noise), 1, 65535)
    nearer = where & (patch > 0) & (depth < patch)
    patch[nearer] = depth[nearer]


@dataclass
class Hand:
    """An experimenter's hand reaching in over the animal (pixels)."""

    present: np.ndarray  # (frames,) bool
    centres: np.ndarray  # (frames, 2)
    radii: tuple[float, float]  # (x, y) half-axes


def place_hand(hand_frames: int, path: Path, mm_per_px: float, rng: np.random.Generator) -> Hand:
    """A hand over the animal for ``hand_frames`` consecutive frames (none for 0)."""
    frames = path.positions.shape[0]
    if not 0 <= hand_frames <= frames // 2:
        raise ValueError(
            f"hand_frames must be between 0 and half of num_frames ({frames // 2}), "
            f"got {hand_frames}"
        )
    present = np.zeros(frames, dtype=bool)
    centres = np.zeros((frames, 2))
    if hand_frames:
        first = int(rng.integers(frames // 4, frames - hand_frames))
        span = np.arange(first, first + hand_frames)
        present[span] = True
        # The hand reaches in over the animal and withdraws along the same line.
        progress = np.abs(np.linspace(-1.0, 1.0, hand_frames))
        direction = rng.uniform(-np.pi, np.pi)
        offset = 60.0 * progress[:, None] * np.array([np.cos(direction), np.sin(direction)])
        centres[span] = path.positions[span] + offset
    return Hand(present, centres, (45.0 / mm_per_px, 28.0 / mm_per_px))


def draw_hand(
    frame: np.ndarray,
    hand: Hand,
    index: int,
    surface: np.ndarray,
    noise_mm: float,
    rng: np.random.Generator,
) -> None:
    """Draw the hand of frame ``index`` (if any), 190 mm above the floor."""
    if not hand.present[index]:
        return
    rows, cols = frame.shape
    hx, hy = hand.centres[index]
    rx, ry = hand.radii
    r0, r1 = max(int(hy - ry) - 1, 0), min(int(hy + ry) + 2, rows)
    c0, c1 = max(int(hx - rx) - 1, 0), min(int(hx + rx) + 2, cols)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    inside = ((xx - hx) / rx) ** 2 + ((yy - hy) / ry) ** 2 <= 1.0
    paint(frame, surface, (r0, r1, c0, c1), inside, np.full(inside.shape, 190.0), noise_mm, rng)


def covered_by_hand(hand: Hand, points: np.ndarray) -> np.ndarray:
    """``(frames,)`` bool: whether the hand covers each frame's point (``(frames, 2)`` px)."""
    rx, ry = hand.radii
    offset = (points - hand.centres) / (rx, ry)
    return hand.present & (np.sum(offset**2, axis=1) <= 1.0)


def cable_mask(cable: Cable, index: int, shape: tuple[int, int]) -> np.ndarray:
    """``shape`` bool: the pixels whose centres lie under the cable in frame ``index``."""
    mask = np.zeros(shape, dtype=bool)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    points = cable.points[index]
    for k in range(points.shape[0] - 1):
        distance, _ = distance_to_segment(cols, rows, points[k], points[k + 1])
        mask |= distance <= cable.width_px / 2.0
    return mask
