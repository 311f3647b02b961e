"""Rendering a synthetic session: the arena over a tilted floor, the animal's path, occluders,
noisy frames, and the ground truth of what was rendered."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..cameras import CameraModel, get_camera
from .animal import MouseShape, Tether

__all__ = ["SyntheticGroundTruth"]


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
