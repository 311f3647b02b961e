"""Testing kit shipped with the package: synthetic sessions with ground truth, and a
conformance check for extractors.

``generate_synthetic_session`` writes a realistic raw moseq session (``depth.dat``,
``depth_ts.txt``, ``metadata.json``) of an asymmetric mouse (narrower head, taller rear, a tail)
walking with pauses and turns in a round or square arena over a tilted floor, with sensor noise,
invalid (zero) pixels and optional dropped frames, and returns the ground truth every extraction
step can be checked against. ``check_depth_extractor`` is what a new format runs in its tests.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cameras import CameraModel, get_camera
from .extractors.base import DepthVideoExtractor, FrameSliceDepthExtractor

__all__ = [
    "MouseShape",
    "SyntheticGroundTruth",
    "SyntheticSession",
    "Tether",
    "check_depth_extractor",
    "generate_synthetic_session",
    "synthesize_depth_video",
]


# --------------------------------------------------------------------------------------------
# The animal
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MouseShape:
    """Body of the synthetic mouse, in millimetres.

    The footprint is an ellipse of half-length ``half_length_mm`` whose half-width narrows from
    ``half_width_mm`` (rear half) towards the nose by ``head_narrowing``; the height above the
    floor rises from ``nose_height_mm`` at the nose to ``rear_height_mm`` at the rear, with steep
    flanks. A thin tail leaves the rear, lying low on the floor.

    Attributes
    ----------
    half_length_mm, half_width_mm : float
        Half the nose-to-rear length and half the rear width of the body.
    head_narrowing : float
        Fraction by which the half-width shrinks at the nose (0 = symmetric ellipse).
    rear_height_mm, nose_height_mm : float
        Peak height of the back at the rear and at the nose end.
    tail_length_mm, tail_width_mm : float
        Length and width of the tail.
    tail_base_height_mm, tail_tip_height_mm : float
        Tail height where it leaves the body and at its tip.
    threshold_mm : float
        Height above which a pixel counts as the animal for the ground truth (moseq2's default
        ``min_height``).
    """

    half_length_mm: float = 31.0
    half_width_mm: float = 14.5
    head_narrowing: float = 0.3
    rear_height_mm: float = 38.0
    nose_height_mm: float = 22.0
    tail_length_mm: float = 55.0
    tail_width_mm: float = 4.5
    tail_base_height_mm: float = 14.0
    tail_tip_height_mm: float = 4.0
    threshold_mm: float = 10.0

    def body_height(self, u: np.ndarray, v: np.ndarray, stretch: float = 1.0) -> np.ndarray:
        """Height (mm) of the body at body coordinates ``u`` (towards the nose) and ``v`` (mm).

        Parameters
        ----------
        u, v : numpy.ndarray
            Body coordinates, millimetres from the body centre: ``u`` along the body axis
            towards the nose, ``v`` across it.
        stretch : float, default 1
            Length factor of the body (rearing or stretching); the width shrinks by its square
            root.

        Returns
        -------
        numpy.ndarray
            Height above the floor, millimetres (0 outside the body).
        """
        half_length = self.half_length_mm * stretch
        s = u / half_length
        half_width = (self.half_width_mm / math.sqrt(stretch)) * (
            1.0 - self.head_narrowing * np.clip(s, 0.0, 1.0) ** 1.5
        )
        radius2 = s**2 + (v / half_width) ** 2
        peak = self.rear_height_mm + (self.nose_height_mm - self.rear_height_mm) * (s + 1.0) / 2.0
        inside = np.clip(1.0 - radius2, 0.0, None)
        return peak * inside**0.3

    def tail_height(self, u: np.ndarray, v: np.ndarray, stretch: float = 1.0) -> np.ndarray:
        """Height (mm) of the tail, which runs straight back from the rear of the body.

        Parameters
        ----------
        u, v : numpy.ndarray
            Body coordinates, millimetres (see :meth:`body_height`).
        stretch : float, default 1
            Length factor of the body, which moves the tail's base.

        Returns
        -------
        numpy.ndarray
            Height above the floor, millimetres (0 off the tail).
        """
        start = -self.half_length_mm * stretch * 0.92
        along = (start - u) / self.tail_length_mm
        on_tail = (along >= 0.0) & (along <= 1.0) & (np.abs(v) <= self.tail_width_mm / 2.0)
        height = self.tail_base_height_mm + (
            self.tail_tip_height_mm - self.tail_base_height_mm
        ) * np.clip(along, 0.0, 1.0)
        return np.where(on_tail, height, 0.0)

    def reach_mm(self) -> float:
        """Largest distance (mm) from the body centre that the animal covers."""
        return self.half_length_mm * 1.15 + self.tail_length_mm + self.tail_width_mm

    def footprint_moments(self, mm_per_px: float, supersample: int = 12) -> dict[str, float]:
        """Ground-truth moments of the body above ``threshold_mm`` (tail excluded), unstretched.

        Parameters
        ----------
        mm_per_px : float
            Size of a pixel on the floor, millimetres.
        supersample : int, default 12
            Samples per pixel along each axis.

        Returns
        -------
        dict of str to float
            The centroid offset along the body axis from the body centre (px), the moment
            axis lengths (px, moseq2's ``2*sqrt(2*(...))`` definition, i.e. the full length of
            the equivalent ellipse), the area (px²) and the mean height (mm).
        """
        step = mm_per_px / supersample
        extent = self.half_length_mm * 1.05
        u = np.arange(-extent, extent, step) + step / 2
        v = np.arange(-self.half_width_mm * 1.05, self.half_width_mm * 1.05, step) + step / 2
        uu, vv = np.meshgrid(u, v, indexing="ij")
        height = self.body_height(uu, vv)
        mask = height > self.threshold_mm
        weight = mask.sum()
        mean_u = (uu * mask).sum() / weight
        var_u = (((uu - mean_u) ** 2) * mask).sum() / weight
        var_v = ((vv**2) * mask).sum() / weight
        return {
            "centroid_offset_px": mean_u / mm_per_px,
            "length_px": 4.0 * math.sqrt(var_u) / mm_per_px,
            "width_px": 4.0 * math.sqrt(var_v) / mm_per_px,
            "area_px": weight * (step / mm_per_px) ** 2,
            "height_mean_mm": float(height[mask].mean()),
        }


@dataclass(frozen=True)
class Tether:
    """A cable (optical fibre, miniscope or EEG lead) from the animal's back out of the arena.

    Seen from above, the cable runs straight from its attachment on the back to an anchor
    outside the arena wall, rising from just above the back to ``top_height_mm`` at the anchor;
    the anchor sways around the arena so the cable swings.

    Attributes
    ----------
    width_mm : float
        Cable width (with its sleeve), mm.
    attach_height_mm : float
        Height of the cable above the floor where it leaves the back, mm.
    top_height_mm : float
        Height of the cable above the floor at the anchor, mm.
    attach_offset : float
        Attachment point along the body axis as a fraction of the half-length (negative is
        towards the rear).
    sway_deg : float
        Amplitude of the anchor's swing around the arena centre, degrees.
    sway_period_s : float
        Period of the swing, seconds.
    """

    width_mm: float = 5.0
    attach_height_mm: float = 44.0
    top_height_mm: float = 350.0
    attach_offset: float = -0.2
    sway_deg: float = 25.0
    sway_period_s: float = 6.0


# --------------------------------------------------------------------------------------------
# Ground truth and the session on disk
# --------------------------------------------------------------------------------------------
@dataclass
class SyntheticGroundTruth:
    """What a perfect extraction of a synthetic session would report, per written frame.

    Attributes
    ----------
    centroid_px : numpy.ndarray, shape (frames, 2)
        ``(x, y)`` centroid of the body (above ``threshold_mm``, tail excluded) in full-frame
        pixel coordinates (x = column, y = row; pixel centres at integers).
    heading : numpy.ndarray, shape (frames,)
        Direction the nose points, radians, counter-clockwise from +x with y pointing up
        (moseq2's ``angle`` convention), in ``(-pi, pi]``.
    length_px, width_px : numpy.ndarray, shape (frames,)
        Moment axis lengths of the body (moseq2's ``length_px`` / ``width_px`` definitions).
    area_px : numpy.ndarray, shape (frames,)
        Body area above the threshold in pixels.
    height_mean_mm : numpy.ndarray, shape (frames,)
        Mean height of the body above the floor, millimetres.
    speed_px_per_frame : numpy.ndarray, shape (frames,)
        Distance the body centre moved since the previous recorded moment, px.
    moving : numpy.ndarray of bool, shape (frames,)
        Whether the animal was walking (False during pauses).
    visible : numpy.ndarray of bool, shape (frames,)
        Whether the animal can be seen (always True unless occluders are added).
    timestamps_ms : numpy.ndarray, shape (frames,)
        Device times written to ``depth_ts.txt``, milliseconds.
    dropped_after : numpy.ndarray of int
        Indices of written frames after which one or more frames were dropped.
    arena_mask : numpy.ndarray of bool, shape (rows, cols)
        The arena floor.
    floor_depth_mm : numpy.ndarray of float32, shape (rows, cols)
        Depth of the floor plane everywhere (also under walls), millimetres.
    floor_plane : tuple of float
        ``(a, b, c, d)`` with ``a*x + b*y + c*depth + d = 0`` for the floor (x, y in pixels).
    true_depth_mm : float
        Floor depth at the arena centre.
    mm_per_px : float
        Size of a pixel on the floor at ``true_depth_mm``.
    tether_segments : numpy.ndarray or None, shape (frames, 2, 2)
        Per frame, the cable's ``(x, y)`` attachment point and anchor in full-frame pixels
        (``None`` without a tether).
    tether_width_px : float
        Cable width in pixels (0 without a tether).
    hand_present : numpy.ndarray of bool, shape (frames,)
        Frames in which an experimenter's hand is in view (the animal is not ``visible`` when
        the hand covers its centroid).
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
        start, end = self.tether_segments[index]
        rows, cols = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
        distance, _ = _distance_to_segment(cols, rows, start, end)
        return distance <= self.tether_width_px / 2.0


@dataclass
class SyntheticSession:
    """A synthetic raw session written to disk.

    Attributes
    ----------
    directory : pathlib.Path
        The session directory.
    depth_path : pathlib.Path
        ``depth.dat`` inside it (``depth_ts.txt`` and ``metadata.json`` lie beside it).
    camera : CameraModel
        The camera simulated.
    truth : SyntheticGroundTruth
        The ground truth of every written frame.
    """

    directory: Path
    depth_path: Path
    camera: CameraModel
    truth: SyntheticGroundTruth
    metadata: dict = field(default_factory=dict)


def _distance_to_segment(
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


class _Scene:
    """Static scene (floor, arena, walls) and the animal's path, rendered chunk by chunk."""

    def __init__(
        self,
        num_frames: int,
        camera: CameraModel,
        arena: str,
        floor_depth_mm: float,
        floor_tilt_deg: tuple[float, float],
        noise_mm: float,
        dropout_fraction: float,
        dropped_frames: int,
        sampling_frequency: float,
        mouse: MouseShape,
        seed: int,
        tether: Tether | None = None,
        hand_frames: int = 0,
    ) -> None:
        if arena not in ("round", "square"):
            raise ValueError(f"arena must be 'round' or 'square', got {arena!r}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        if dropped_frames < 0 or dropped_frames > max(num_frames // 4, 0):
            raise ValueError(
                f"dropped_frames must be between 0 and a quarter of num_frames "
                f"({num_frames // 4}), got {dropped_frames}"
            )
        if noise_mm < 0 or not 0 <= dropout_fraction < 0.5:
            raise ValueError("noise_mm must be >= 0 and dropout_fraction in [0, 0.5)")
        self.rng = np.random.default_rng(seed)
        self.camera = camera
        self.mouse = mouse
        self.noise_mm = noise_mm
        self.dropout_fraction = dropout_fraction
        rows, cols = camera.image_size
        self.rows, self.cols = rows, cols
        self.mm_per_px = camera.mm_per_pixel(floor_depth_mm)[0]

        # Floor plane through the image centre, tilted about both axes.
        cx, cy = (cols - 1) / 2.0, (rows - 1) / 2.0
        slope_x = math.tan(math.radians(floor_tilt_deg[0])) * self.mm_per_px
        slope_y = math.tan(math.radians(floor_tilt_deg[1])) * self.mm_per_px
        y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
        self.floor = (floor_depth_mm + slope_x * (x - cx) + slope_y * (y - cy)).astype(np.float32)
        self.floor_plane = (slope_x, slope_y, -1.0, floor_depth_mm - slope_x * cx - slope_y * cy)
        self.true_depth = float(floor_depth_mm)

        # Arena floor, a wall rim around it, and the room beyond (deeper than the floor).
        half = 0.42 * min(rows, cols)
        self.arena_shape = arena
        self.arena_centre = (cx, cy)
        self.arena_half = half
        if arena == "round":
            distance = np.hypot(x - cx, y - cy)
        else:
            distance = np.maximum(np.abs(x - cx), np.abs(y - cy))
        self.arena_mask = distance <= half
        wall = (distance > half) & (distance <= half + 0.03 * min(rows, cols))
        scene = np.where(self.arena_mask, self.floor, floor_depth_mm + 160.0)
        scene = np.where(wall, floor_depth_mm - 280.0, scene).astype(np.float32)
        self.scene = scene

        # A bank of noisy, partly invalid background frames; each frame picks one at random.
        bank_size = 24
        self.bank = np.empty((bank_size, rows, cols), dtype=np.uint16)
        self.bank_dropouts = np.zeros((bank_size, rows, cols), dtype=bool)
        for k in range(bank_size):
            noisy = scene + self.rng.normal(0.0, noise_mm, size=scene.shape).astype(np.float32)
            dropout = self.rng.random(scene.shape) < dropout_fraction
            # Depth sensors also lose whole patches along steep edges such as the wall.
            dropout |= wall & (self.rng.random(scene.shape) < 0.2)
            self.bank[k] = np.where(dropout, 0, np.clip(np.rint(noisy), 1, 65535))
            self.bank_dropouts[k] = dropout

        self._simulate_path(num_frames, dropped_frames, sampling_frequency)
        # Occluders draw from their own generator so adding them leaves the animal's path as is.
        self._place_occluders(tether, hand_frames, sampling_frequency, seed)

    # ---------------------------------------------------------------- the path
    def _simulate_path(self, num_frames: int, dropped_frames: int, fs: float) -> None:
        rng = self.rng
        total = num_frames + dropped_frames
        mouse_reach_px = (self.mouse.half_length_mm * 1.2) / self.mm_per_px
        limit = self.arena_half - mouse_reach_px - 2.0
        cx, cy = self.arena_centre
        position = np.array([cx, cy], dtype=np.float64) + rng.uniform(-0.3, 0.3, 2) * limit
        direction = rng.uniform(-math.pi, math.pi)  # image coordinates (y down)
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
            # Steer away from the wall when heading out near it.
            offset = position - (cx, cy)
            if self.arena_shape == "round":
                nearness = np.hypot(*offset) / limit
            else:
                nearness = np.max(np.abs(offset)) / limit
            if nearness > 0.75 and speed > 0.3:
                to_centre = math.atan2(-offset[1], -offset[0])
                error = math.atan2(math.sin(to_centre - direction), math.cos(to_centre - direction))
                turn += 0.06 * (nearness - 0.75) / 0.25 * error
            turn = float(np.clip(turn, -0.12, 0.12))
            direction += turn
            step = speed * np.array([math.cos(direction), math.sin(direction)])
            candidate = position + step
            off = candidate - (cx, cy)
            inside = (
                np.hypot(*off) <= limit
                if self.arena_shape == "round"
                else np.max(np.abs(off)) <= limit
            )
            if inside:
                position = candidate
            else:
                speed *= 0.3
            positions[i] = position
            directions[i] = direction
            stretches[i] = 1.0 + 0.06 * np.tanh((speed - 2.0) / 1.5)
            is_moving[i] = moving and speed > 0.3

        interval_ms = 1000.0 / fs
        times = 1_000_000.0 + np.arange(total) * interval_ms + rng.normal(0.0, 0.3, total)
        keep = np.ones(total, dtype=bool)
        if dropped_frames:
            dropped = rng.choice(np.arange(5, total - 5), size=dropped_frames, replace=False)
            keep[dropped] = False
        kept = np.flatnonzero(keep)
        self.dropped_after = np.flatnonzero(np.diff(kept) > 1)
        self.positions = positions[kept]
        self.directions = directions[kept]
        self.stretches = stretches[kept]
        self.moving = is_moving[kept]
        self.timestamps_ms = times[kept]
        speed_all = np.r_[0.0, np.hypot(*np.diff(positions, axis=0).T)]
        self.speeds = speed_all[kept]

    # ---------------------------------------------------------------- occluders
    def _place_occluders(
        self, tether: Tether | None, hand_frames: int, fs: float, seed: int
    ) -> None:
        frames = self.positions.shape[0]
        rng = np.random.default_rng([seed, 7919])
        self.tether = tether
        self.tether_segments = None
        if tether is not None:
            offset_px = tether.attach_offset * self.mouse.half_length_mm / self.mm_per_px
            attach = self.positions + offset_px * np.column_stack(
                [np.cos(self.directions), np.sin(self.directions)]
            )
            times = (self.timestamps_ms - self.timestamps_ms[0]) / 1000.0
            swing = np.radians(tether.sway_deg) * np.sin(2 * np.pi * times / tether.sway_period_s)
            angle = rng.uniform(-np.pi, np.pi) + swing
            reach = self.arena_half + 0.06 * min(self.rows, self.cols)
            cx, cy = self.arena_centre
            anchor = np.column_stack([cx + reach * np.cos(angle), cy + reach * np.sin(angle)])
            self.tether_segments = np.stack([attach, anchor], axis=1)
        if not 0 <= hand_frames <= frames // 2:
            raise ValueError(
                f"hand_frames must be between 0 and half of num_frames ({frames // 2}), "
                f"got {hand_frames}"
            )
        self.hand_present = np.zeros(frames, dtype=bool)
        self.hand_centres = np.zeros((frames, 2))
        if hand_frames:
            first = int(rng.integers(frames // 4, frames - hand_frames))
            span = np.arange(first, first + hand_frames)
            self.hand_present[span] = True
            # The hand reaches in over the animal and withdraws along the same line.
            progress = np.abs(np.linspace(-1.0, 1.0, hand_frames))
            direction = rng.uniform(-np.pi, np.pi)
            offset = 60.0 * progress[:, None] * np.array([np.cos(direction), np.sin(direction)])
            self.hand_centres[span] = self.positions[span] + offset
        self.hand_radii_px = (45.0 / self.mm_per_px, 28.0 / self.mm_per_px)

    def _draw_occluders(self, frame: np.ndarray, index: int, rng: np.random.Generator) -> None:
        """Draw the cable and the hand over ``frame`` (nearer surfaces hide farther ones)."""
        if self.tether_segments is not None:
            start, end = self.tether_segments[index]
            half_width = self.tether.width_mm / self.mm_per_px / 2.0
            r0 = max(int(min(start[1], end[1]) - half_width) - 1, 0)
            r1 = min(int(max(start[1], end[1]) + half_width) + 2, self.rows)
            c0 = max(int(min(start[0], end[0]) - half_width) - 1, 0)
            c1 = min(int(max(start[0], end[0]) + half_width) + 2, self.cols)
            yy, xx = np.mgrid[r0:r1, c0:c1]
            distance, along = _distance_to_segment(xx, yy, start, end)
            height = self.tether.attach_height_mm + along * (
                self.tether.top_height_mm - self.tether.attach_height_mm
            )
            self._paint(frame, (r0, r1, c0, c1), distance <= half_width, height, rng)
        if self.hand_present[index]:
            hx, hy = self.hand_centres[index]
            ry, rx = self.hand_radii_px[1], self.hand_radii_px[0]
            r0, r1 = max(int(hy - ry) - 1, 0), min(int(hy + ry) + 2, self.rows)
            c0, c1 = max(int(hx - rx) - 1, 0), min(int(hx + rx) + 2, self.cols)
            yy, xx = np.mgrid[r0:r1, c0:c1]
            inside = ((xx - hx) / rx) ** 2 + ((yy - hy) / ry) ** 2 <= 1.0
            self._paint(frame, (r0, r1, c0, c1), inside, np.full(inside.shape, 190.0), rng)

    def _paint(self, frame, box, where, height, rng) -> None:
        r0, r1, c0, c1 = box
        patch = frame[r0:r1, c0:c1]
        noise = rng.normal(0.0, self.noise_mm, size=where.shape)
        depth = np.clip(np.rint(self.floor[r0:r1, c0:c1] - height + noise), 1, 65535)
        nearer = where & (patch > 0) & (depth < patch)
        patch[nearer] = depth[nearer]

    # ---------------------------------------------------------------- rendering
    def render(self, start: int, end: int) -> np.ndarray:
        """Frames ``[start, end)`` as uint16 millimetres."""
        rng = np.random.default_rng([start, end, self.rows])
        frames = self.bank[rng.integers(0, self.bank.shape[0], end - start)]
        reach = math.ceil(self.mouse.reach_mm() / self.mm_per_px) + 2
        for i, frame in enumerate(frames):
            index = start + i
            x0, y0 = self.positions[index]
            px0, py0 = round(x0), round(y0)
            r0, r1 = max(py0 - reach, 0), min(py0 + reach + 1, self.rows)
            c0, c1 = max(px0 - reach, 0), min(px0 + reach + 1, self.cols)
            yy, xx = np.mgrid[r0:r1, c0:c1]
            dx = (xx - x0) * self.mm_per_px
            dy = (yy - y0) * self.mm_per_px
            cos_d, sin_d = math.cos(self.directions[index]), math.sin(self.directions[index])
            u = dx * cos_d + dy * sin_d
            v = -dx * sin_d + dy * cos_d
            stretch = self.stretches[index]
            height = np.maximum(
                self.mouse.body_height(u, v, stretch), self.mouse.tail_height(u, v, stretch)
            )
            on_animal = height > 0
            noise = rng.normal(0.0, self.noise_mm, size=height.shape)
            depth = np.clip(np.rint(self.floor[r0:r1, c0:c1] - height + noise), 1, 65535)
            patch = frame[r0:r1, c0:c1]
            keep_invalid = patch == 0
            patch[on_animal & ~keep_invalid] = depth[on_animal & ~keep_invalid]
            self._draw_occluders(frame, index, rng)
        return frames

    def truth(self) -> SyntheticGroundTruth:
        moments = self.mouse.footprint_moments(self.mm_per_px)
        offset = moments["centroid_offset_px"] * self.stretches
        centroid = self.positions + offset[:, None] * np.column_stack(
            [np.cos(self.directions), np.sin(self.directions)]
        )
        heading = np.angle(np.exp(-1j * self.directions))
        heading[heading == -np.pi] = np.pi
        frames = self.positions.shape[0]
        rx, ry = self.hand_radii_px
        hand_offset = (centroid - self.hand_centres) / (rx, ry)
        covered = self.hand_present & (np.sum(hand_offset**2, axis=1) <= 1.0)
        return SyntheticGroundTruth(
            centroid_px=centroid,
            heading=heading,
            length_px=moments["length_px"] * self.stretches,
            width_px=moments["width_px"] / np.sqrt(self.stretches),
            area_px=moments["area_px"] * np.sqrt(self.stretches),
            height_mean_mm=np.full(frames, moments["height_mean_mm"]),
            speed_px_per_frame=self.speeds,
            moving=self.moving.copy(),
            visible=~covered,
            timestamps_ms=self.timestamps_ms.copy(),
            dropped_after=self.dropped_after.copy(),
            arena_mask=self.arena_mask.copy(),
            floor_depth_mm=self.floor.copy(),
            floor_plane=tuple(float(v) for v in self.floor_plane),
            true_depth_mm=self.true_depth,
            mm_per_px=float(self.mm_per_px),
            tether_segments=None if self.tether_segments is None else self.tether_segments.copy(),
            tether_width_px=0.0 if self.tether is None else self.tether.width_mm / self.mm_per_px,
            hand_present=self.hand_present.copy(),
        )


def _build_scene(
    num_frames: int,
    camera: str | CameraModel,
    arena: str,
    floor_depth_mm: float,
    floor_tilt_deg: tuple[float, float],
    noise_mm: float,
    dropout_fraction: float,
    dropped_frames: int,
    sampling_frequency: float,
    mouse: MouseShape | None,
    seed: int,
    tether: Tether | None = None,
    hand_frames: int = 0,
) -> _Scene:
    model = get_camera(camera)
    if model.field_of_view is None:
        raise ValueError("the synthetic camera needs a field of view; use a preset")
    return _Scene(
        num_frames,
        model,
        arena,
        floor_depth_mm,
        tuple(floor_tilt_deg),
        noise_mm,
        dropout_fraction,
        dropped_frames,
        sampling_frequency,
        mouse or MouseShape(),
        seed,
        tether,
        hand_frames,
    )


def synthesize_depth_video(
    num_frames: int = 300,
    *,
    camera: str | CameraModel = "kinect_v2",
    arena: str = "round",
    floor_depth_mm: float = 680.0,
    floor_tilt_deg: tuple[float, float] = (1.5, -1.0),
    noise_mm: float = 2.0,
    dropout_fraction: float = 0.002,
    dropped_frames: int = 0,
    sampling_frequency: float = 30.0,
    mouse: MouseShape | None = None,
    tether: Tether | None = None,
    hand_frames: int = 0,
    seed: int = 0,
) -> tuple[np.ndarray, SyntheticGroundTruth]:
    """Render a synthetic session in memory (see :func:`generate_synthetic_session`).

    Parameters
    ----------
    num_frames : int, default 300
        Frames rendered.
    camera, arena, floor_depth_mm, floor_tilt_deg, noise_mm, dropout_fraction, dropped_frames, \
sampling_frequency, mouse, tether, hand_frames, seed
        As for :func:`generate_synthetic_session` (millimetres, degrees, Hz).

    Returns
    -------
    video : numpy.ndarray
        ``(num_frames, rows, cols)`` uint16 depth in millimetres.
    truth : SyntheticGroundTruth
    """
    scene = _build_scene(
        num_frames, camera, arena, floor_depth_mm, floor_tilt_deg, noise_mm,
        dropout_fraction, dropped_frames, sampling_frequency, mouse, seed, tether, hand_frames,
    )  # fmt: skip
    return scene.render(0, num_frames), scene.truth()


def generate_synthetic_session(
    output_dir: str | os.PathLike,
    num_frames: int = 1000,
    *,
    camera: str | CameraModel = "kinect_v2",
    arena: str = "round",
    floor_depth_mm: float = 680.0,
    floor_tilt_deg: tuple[float, float] = (1.5, -1.0),
    noise_mm: float = 2.0,
    dropout_fraction: float = 0.002,
    dropped_frames: int = 0,
    sampling_frequency: float = 30.0,
    mouse: MouseShape | None = None,
    tether: Tether | None = None,
    hand_frames: int = 0,
    seed: int = 0,
    chunk_size: int = 500,
) -> SyntheticSession:
    """Write a synthetic raw moseq session and return its ground truth.

    Parameters
    ----------
    output_dir : path-like
        Session directory to create (or reuse); ``depth.dat``, ``depth_ts.txt`` and
        ``metadata.json`` are written in it.
    num_frames : int, default 1000
        Frames written (dropped frames come on top and are not written).
    camera : str or CameraModel, default "kinect_v2"
        Camera preset; sets the frame size and the pixel size on the floor.
    arena : {"round", "square"}
        Shape of the arena floor (42% of the shorter image side, from the centre).
    floor_depth_mm : float, default 680
        Distance from the camera to the floor at the image centre, mm.
    floor_tilt_deg : (float, float), default (1.5, -1.0)
        Floor tilt about the image's vertical and horizontal axes, degrees.
    noise_mm : float, default 2
        Standard deviation of Gaussian depth noise, mm.
    dropout_fraction : float, default 0.002
        Fraction of pixels reading 0 (invalid) in each frame; the wall loses more.
    dropped_frames : int, default 0
        Frames the "camera" drops: the animal moves on, the timestamps show a gap.
    sampling_frequency : float, default 30
        Frame rate, Hz.
    mouse : MouseShape, optional
        Body of the animal; the default is a C57-sized adult.
    tether : Tether, optional
        A cable from the animal's back out of the arena (for tethered-animal tests).
    hand_frames : int, default 0
        Frames during which an experimenter's hand reaches in over the animal.
    seed : int, default 0
        Everything random derives from it: the same arguments give the same bytes.
    chunk_size : int, default 500
        Frames rendered and written at a time (bounds memory).

    Returns
    -------
    SyntheticSession
    """
    scene = _build_scene(
        num_frames, camera, arena, floor_depth_mm, floor_tilt_deg, noise_mm,
        dropout_fraction, dropped_frames, sampling_frequency, mouse, seed, tether, hand_frames,
    )  # fmt: skip
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    depth_path = directory / "depth.dat"
    partial = directory / "depth.dat.partial"
    with open(partial, "wb") as handle:
        for start in range(0, num_frames, chunk_size):
            scene.render(start, min(start + chunk_size, num_frames)).astype("<u2").tofile(handle)
    os.replace(partial, depth_path)
    truth = scene.truth()
    np.savetxt(
        directory / "depth_ts.txt",
        np.column_stack([truth.timestamps_ms, np.zeros(num_frames)]),
        fmt=["%.4f", "%d"],
    )
    rows, cols = scene.camera.image_size
    metadata = {
        "SubjectName": f"synthetic-mouse-{seed}",
        "SessionName": f"synthetic-{arena}-{seed}",
        "NidaqChannels": 0,
        "NidaqSamplingRate": 0.0,
        "DepthResolution": [cols, rows],
        "IsLittleEndian": True,
        "DepthDataType": "UInt16[]",
        "ColorResolution": [cols, rows],
        "ColorDataType": "Byte[]",
        "StartTime": "2026-01-01T00:00:00+00:00",
        "CameraType": scene.camera.name,
    }
    with open(directory / "metadata.json", "w", encoding="utf-8") as handle:
        json.dump(metadata, handle, indent=2)
    return SyntheticSession(directory, depth_path, scene.camera, truth, metadata)


# --------------------------------------------------------------------------------------------
# Conformance check
# --------------------------------------------------------------------------------------------
def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _expect_raises(exception: type[BaseException], call, description: str) -> None:
    try:
        call()
    except exception:
        return
    except Exception as error:
        raise AssertionError(
            f"{description} raised {type(error).__name__} instead of {exception.__name__}: {error}"
        ) from error
    raise AssertionError(f"{description} did not raise {exception.__name__}")


def check_depth_extractor(
    extractor: DepthVideoExtractor,
    expected_video: np.ndarray | None = None,
    *,
    max_full_read_frames: int = 2000,
    check_pickle: bool = True,
    seed: int = 0,
) -> None:
    """Check that an extractor honours the :class:`DepthVideoExtractor` contract.

    Call it from the tests of a new format. It reads the whole video when it has at most
    ``max_full_read_frames`` frames (otherwise a sample of ranges) and checks shapes and dtype,
    ``get_video`` ranges, ``get_frames`` against ``get_video`` (any order, repeats, negative
    indices, masks), slices and slices of slices, chunk iteration with overlap, times and their
    precedence, the camera, metadata, errors on bad arguments and, optionally, pickling.

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The extractor to check (not modified: times set during the check are removed).
    expected_video : numpy.ndarray, optional
        The frames the extractor should return, when known.
    max_full_read_frames : int, default 2000
        Videos longer than this are checked on sampled ranges.
    check_pickle : bool, default True
        Also check that a pickled and unpickled extractor reads the same frames (batch runs
        send extractors to other processes).
    seed : int, default 0
        Seed for the random ranges and indices.

    Raises
    ------
    AssertionError
        Naming the first property that does not hold.
    """
    rng = np.random.default_rng(seed)
    name = type(extractor).__name__
    size = extractor.get_image_size()
    _expect(
        isinstance(size, tuple)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size),
        f"{name}.get_image_size() must be a (rows, cols) tuple of positive ints, got {size!r}",
    )
    rows, cols = size
    num_frames = extractor.get_num_frames()
    _expect(
        isinstance(num_frames, int) and num_frames >= 1, f"{name}: bad frame count {num_frames!r}"
    )
    _expect(len(extractor) == num_frames, f"{name}: len() differs from get_num_frames()")
    fs = extractor.get_sampling_frequency()
    _expect(
        isinstance(fs, float) and fs > 0, f"{name}: sampling frequency must be a positive float"
    )
    _expect(extractor.get_dtype() == np.uint16, f"{name}: dtype must be uint16")
    _expect(extractor.camera.image_size == size, f"{name}: camera image size differs from frames")
    _expect(isinstance(extractor.get_metadata(), dict), f"{name}: metadata must be a dict")

    full = num_frames <= max_full_read_frames
    reference = extractor.get_video() if full else None
    if reference is not None:
        _expect(
            reference.shape == (num_frames, rows, cols),
            f"{name}: get_video() shape {reference.shape}",
        )
        _expect(reference.dtype == np.uint16, f"{name}: get_video() dtype {reference.dtype}")
    if expected_video is not None:
        if reference is not None:
            _expect(
                np.array_equal(reference, expected_video),
                f"{name}: frames differ from the expected video",
            )
        else:
            picks = rng.integers(0, num_frames, 8)
            _expect(
                np.array_equal(extractor.get_frames(picks), expected_video[picks]),
                f"{name}: sampled frames differ from the expected video",
            )

    def frames_of(start: int, end: int) -> np.ndarray:
        return reference[start:end] if reference is not None else extractor.get_video(start, end)

    # Ranges, including negative and clamped bounds.
    for _ in range(6):
        a, b = sorted(rng.integers(0, num_frames + 1, 2))
        video = extractor.get_video(int(a), int(b))
        _expect(
            video.shape == (b - a, rows, cols), f"{name}: get_video({a}, {b}) shape {video.shape}"
        )
        if reference is not None:
            _expect(
                np.array_equal(video, reference[a:b]), f"{name}: get_video({a}, {b}) values differ"
            )
    tail = extractor.get_video(-1)
    _expect(
        np.array_equal(tail, frames_of(num_frames - 1, num_frames)),
        f"{name}: get_video(-1) is not the last frame",
    )
    _expect(
        extractor.get_video(num_frames - 1, num_frames + 10).shape[0] == 1,
        f"{name}: an end past the last frame must be clamped",
    )

    # Random access against sequential reads.
    picks = rng.integers(-num_frames, num_frames, min(12, 2 * num_frames))
    picks = np.r_[picks, picks[:2]]
    by_index = extractor.get_frames(picks)
    expected = np.stack([frames_of(int(p) % num_frames, int(p) % num_frames + 1)[0] for p in picks])
    _expect(np.array_equal(by_index, expected), f"{name}: get_frames differs from get_video")
    _expect(
        np.array_equal(extractor.get_frames(int(picks[0])), expected[0]),
        f"{name}: get_frames(int) must return that one frame",
    )
    mask = np.zeros(num_frames, dtype=bool)
    mask[rng.integers(0, num_frames, 3)] = True
    _expect(
        np.array_equal(extractor.get_frames(mask), extractor.get_frames(np.flatnonzero(mask))),
        f"{name}: get_frames(boolean mask) differs from get_frames(indices)",
    )

    # Slices and slices of slices.
    a, b = sorted(int(v) for v in rng.integers(0, num_frames + 1, 2))
    view = extractor.frame_slice(a, b)
    _expect(isinstance(view, FrameSliceDepthExtractor), f"{name}: frame_slice must return a view")
    _expect(view.get_num_frames() == b - a, f"{name}: slice frame count")
    if b > a:
        _expect(np.array_equal(view.get_video(), frames_of(a, b)), f"{name}: slice values")
        c, d = sorted(int(v) for v in rng.integers(0, b - a + 1, 2))
        inner = view.frame_slice(c, d)
        _expect(
            np.array_equal(inner.get_video(), frames_of(a + c, a + d)),
            f"{name}: slice of slice values",
        )
        _expect(
            np.allclose(view.get_timestamps(), extractor.get_timestamps(a, b)),
            f"{name}: slice times must be the parent's times of those frames",
        )
    start_only = extractor.frame_slice(num_frames // 2)
    _expect(
        start_only.get_num_frames() == num_frames - num_frames // 2,
        f"{name}: slice with a start only",
    )
    clamped = extractor.frame_slice(0, num_frames + 100)
    _expect(clamped.get_num_frames() == num_frames, f"{name}: slice end must be clamped")

    # Chunks: every frame new in exactly one chunk, overlap frames repeated before.
    chunk_size = max(1, min(num_frames // 3, 500)) if full else 500
    last = num_frames if full else min(num_frames, 3 * chunk_size)
    pieces = []
    for chunk in extractor.iter_chunks(chunk_size, overlap=2, end_frame=last):
        _expect(chunk.frames.shape[0] == chunk.end - chunk.read_start, f"{name}: chunk shape")
        _expect(chunk.num_overlap == min(2, chunk.start), f"{name}: chunk overlap")
        pieces.append(chunk.new_frames)
    _expect(
        np.array_equal(np.concatenate(pieces), frames_of(0, last)),
        f"{name}: chunks do not reassemble the video",
    )

    # Times and their precedence.
    times = extractor.get_timestamps()
    _expect(
        times.shape == (num_frames,) and times.dtype == np.float64,
        f"{name}: timestamps shape/dtype",
    )
    _expect(bool(np.all(np.diff(times) >= 0)), f"{name}: timestamps must not decrease")
    probe = int(rng.integers(0, num_frames))
    _expect(
        extractor.time_to_frame(extractor.frame_to_time(probe)) <= probe, f"{name}: time_to_frame"
    )
    _expect(
        extractor.frame_to_time(probe) == times[probe],
        f"{name}: frame_to_time differs from timestamps",
    )
    saved = extractor._times
    try:
        custom = np.arange(num_frames, dtype=np.float64) * 0.5 + 7.0
        extractor.set_times(custom)
        _expect(extractor.has_time_vector(), f"{name}: has_time_vector after set_times")
        _expect(np.array_equal(extractor.get_timestamps(), custom), f"{name}: set times must win")
        _expect(
            extractor.time_to_frame(7.0 + 0.5 * probe + 0.1) == probe,
            f"{name}: time_to_frame on set times",
        )
    finally:
        extractor._times = saved

    # Errors on bad arguments.
    _expect_raises(
        IndexError, lambda: extractor.get_frames([num_frames]), f"{name}.get_frames([frames])"
    )
    _expect_raises(
        ValueError, lambda: extractor.get_video(num_frames, 0), f"{name}.get_video(frames, 0)"
    )
    _expect_raises(TypeError, lambda: extractor.get_video(0.5, 2), f"{name}.get_video(0.5, 2)")
    _expect_raises(
        ValueError, lambda: extractor.frame_slice(num_frames, 0), f"{name}.frame_slice(frames, 0)"
    )
    _expect_raises(ValueError, lambda: next(extractor.iter_chunks(0)), f"{name}.iter_chunks(0)")
    _expect_raises(
        ValueError,
        lambda: extractor.set_times(np.zeros(num_frames + 1)),
        f"{name}.set_times(wrong length)",
    )

    if check_pickle:
        clone = pickle.loads(pickle.dumps(extractor))
        _expect(
            np.array_equal(clone.get_video(0, 1), frames_of(0, 1)),
            f"{name}: a pickled copy reads different frames",
        )
