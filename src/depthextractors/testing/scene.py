"""Rendering a synthetic session: the static scene, the animal on its path, what comes between
it and the camera, and the sensor's noise, invalid pixels and artefacts."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..cameras import get_camera
from .animal import MouseShape
from .layout import build_layout
from .occluders import draw_cable, draw_hand, place_cable, place_hand
from .path import simulate_path
from .pose import plan_poses, posed_heights, posed_reach_mm
from .truth import SyntheticGroundTruth, scene_truth
from .variety import SessionParameters

__all__: list[str] = []


class Scene:
    """Static scene and the animal's path, rendered chunk by chunk."""

    def __init__(self, num_frames: int, options: SessionParameters) -> None:
        camera = get_camera(options.camera)
        if camera.field_of_view is None:
            raise ValueError("the synthetic camera needs a field of view; use a preset")
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        dropped_frames = options.dropped_frames
        if dropped_frames < 0 or dropped_frames > max(num_frames // 4, 0):
            raise ValueError(
                f"dropped_frames must be between 0 and a quarter of num_frames "
                f"({num_frames // 4}), got {dropped_frames}"
            )
        noise_mm, dropout_fraction = options.noise_mm, options.dropout_fraction
        if noise_mm < 0 or not 0 <= dropout_fraction < 0.5:
            raise ValueError("noise_mm must be >= 0 and dropout_fraction in [0, 0.5)")
        if options.dropout_patches < 0 or not 0 <= options.flying_pixels <= 1:
            raise ValueError("dropout_patches must be >= 0 and flying_pixels in [0, 1]")
        seed = options.seed
        self.options = options
        self.rng = np.random.default_rng(seed)
        self.camera = camera
        self.mouse = options.mouse or MouseShape()
        self.behaviour = options.behaviour
        self.noise_mm = noise_mm
        rows, cols = camera.image_size
        self.rows, self.cols = rows, cols
        self.layout = build_layout(
            camera, options.arena, options.arena_size_mm, options.floor_depth_mm,
            tuple(options.floor_tilt_deg), options.walls, tuple(options.objects),
            options.bedding_mm, options.reflective_walls, seed,
        )  # fmt: skip
        self.true_depth = float(options.floor_depth_mm)

        # A bank of noisy, partly invalid background frames; each frame picks one at random.
        scene, wall = self.layout.scene, self.layout.wall
        bank_size = 24
        self.bank = np.empty((bank_size, rows, cols), dtype=np.uint16)
        for k in range(bank_size):
            noisy = scene + self.rng.normal(0.0, noise_mm, size=scene.shape).astype(np.float32)
            dropout = self.rng.random(scene.shape) < dropout_fraction
            # Depth sensors also lose whole patches along steep edges such as the wall.
            dropout |= wall & (self.rng.random(scene.shape) < 0.2)
            self.bank[k] = np.where(dropout, 0, np.clip(np.rint(noisy), 1, 65535))

        fs = options.sampling_frequency
        speed = None if self.behaviour is None else self.behaviour.walking_speed_mm_s
        self.path = simulate_path(
            self.layout, self.mouse, num_frames, dropped_frames, fs, self.rng, speed
        )
        self.poses = plan_poses(
            self.behaviour, self.path.stretches, self.path.directions, self.path.moving,
            self.mouse, fs, np.random.default_rng([seed, 4243]),
        )  # fmt: skip
        # Occluders draw from their own generator so adding them leaves the animal's path as is.
        rng = np.random.default_rng([seed, 7919])
        self.cable = None
        if options.tether is not None:
            self.cable = place_cable(
                options.tether, self.layout, self.path, self.poses, self.mouse, rng, (rows, cols)
            )
        self.hand = place_hand(options.hand_frames, self.path, self.layout.mm_per_px, rng)

    # ---------------------------------------------------------------- rendering
    def render(self, start: int, end: int) -> np.ndarray:
        """Frames ``[start, end)`` as uint16 millimetres."""
        rng = np.random.default_rng([start, end, self.rows])
        frames = self.bank[rng.integers(0, self.bank.shape[0], end - start)]
        reach_mm = self.mouse.reach_mm() if self.behaviour is None else posed_reach_mm(self.mouse)
        reach = math.ceil(reach_mm / self.layout.mm_per_px) + 2
        surface = self.layout.surface
        for i, frame in enumerate(frames):
            index = start + i
            self._draw_animal(frame, index, reach, rng)
            if self.cable is not None:
                draw_cable(frame, self.cable, index, surface, self.noise_mm, rng)
            draw_hand(frame, self.hand, index, surface, self.noise_mm, rng)
            self._sensor_artefacts(frame, rng)
        return frames

    def _draw_animal(
        self, frame: np.ndarray, index: int, reach: int, rng: np.random.Generator
    ) -> None:
        mm_per_px = self.layout.mm_per_px
        x0, y0 = self.path.positions[index]
        px0, py0 = round(x0), round(y0)
        r0, r1 = max(py0 - reach, 0), min(py0 + reach + 1, self.rows)
        c0, c1 = max(px0 - reach, 0), min(px0 + reach + 1, self.cols)
        yy, xx = np.mgrid[r0:r1, c0:c1]
        dx = (xx - x0) * mm_per_px
        dy = (yy - y0) * mm_per_px
        cos_d = math.cos(self.path.directions[index])
        sin_d = math.sin(self.path.directions[index])
        u = dx * cos_d + dy * sin_d
        v = -dx * sin_d + dy * cos_d
        if self.behaviour is None:
            stretch = self.poses.stretch[index]
            body = self.mouse.body_height(u, v, stretch)
            tail = self.mouse.tail_height(u, v, stretch)
            height = np.maximum(body, tail)
        else:
            height = self._posed_height(u, v, index)
        on_animal = height > 0
        noise = rng.normal(0.0, self.noise_mm, size=height.shape)
        surface = self.layout.surface[r0:r1, c0:c1]
        depth = np.clip(np.rint(surface - height + noise), 1, 65535)
        patch = frame[r0:r1, c0:c1]
        keep_invalid = patch == 0
        patch[on_animal & ~keep_invalid] = depth[on_animal & ~keep_invalid]
        if self.options.flying_pixels:
            self._flying_pixels(patch, surface, height, on_animal, rng)

    def _posed_height(self, u: np.ndarray, v: np.ndarray, index: int) -> np.ndarray:
        """Heights (mm) of the posed animal, computed only within a body-aligned box that
        holds it (a rat's square box is mostly floor)."""
        mouse, poses = self.mouse, self.poses
        stretch, curvature = poses.stretch[index], poses.curvature[index]
        half_length = mouse.half_length_mm * stretch
        rear = -(0.92 * half_length + mouse.tail_length_mm) - 2.0
        front = 1.1 * half_length
        far = max(-rear, front)
        bend = abs(curvature) * (half_length**2 / 2.0 + half_length * max(far - half_length, 0))
        side = max(mouse.half_width_mm / math.sqrt(min(stretch, 1.0)), mouse.tail_width_mm)
        inside = (u >= rear) & (u <= front) & (np.abs(v) <= 1.1 * side + bend + 2.0)
        body, tail = posed_heights(
            mouse, u[inside], v[inside], stretch, curvature, poses.pitch[index],
            poses.hunch[index],
        )  # fmt: skip
        height = np.zeros(u.shape)
        height[inside] = np.maximum(body, tail)
        return height

    def _flying_pixels(self, patch, surface, height, on_animal, rng) -> None:
        """Pixels along the animal's outline that mix it with the floor, or read nothing."""
        kernel = np.ones((3, 3), np.uint8)
        on = on_animal.astype(np.uint8)
        ring = (cv2.dilate(on, kernel) > 0) & ~(cv2.erode(on, kernel) > 0)
        near = cv2.dilate(height.astype(np.float32), kernel)
        chance = self.options.flying_pixels
        mixed = ring & (rng.random(ring.shape) < chance) & (patch > 0)
        fraction = rng.random(ring.shape)
        depth = np.clip(np.rint(surface - fraction * near), 1, 65535)
        patch[mixed] = depth[mixed]
        lost = ring & (rng.random(ring.shape) < chance / 4)
        patch[lost] = 0

    def _sensor_artefacts(self, frame: np.ndarray, rng: np.random.Generator) -> None:
        """Invalid patches anywhere in the arena and spurious depth beside reflective walls."""
        layout = self.layout
        if self.options.dropout_patches:
            cx, cy = layout.centre
            for _ in range(rng.poisson(self.options.dropout_patches)):
                x, y = cx + rng.uniform(-1, 1) * layout.half, cy + rng.uniform(-1, 1) * layout.half
                radius = rng.uniform(1.0, 5.0)
                cv2.circle(frame, (round(x), round(y)), round(radius), 0, thickness=-1)
        if layout.near_wall is not None:
            rows, cols = np.nonzero(layout.near_wall)
            for k in rng.integers(0, rows.size, rng.poisson(6.0)):
                radius = round(rng.uniform(0.5, 3.0))
                offset = rng.normal(0.0, 25.0)
                r0, r1 = max(rows[k] - radius, 0), rows[k] + radius + 1
                c0, c1 = max(cols[k] - radius, 0), cols[k] + radius + 1
                patch = frame[r0:r1, c0:c1]
                spurious = np.clip(np.rint(layout.scene[r0:r1, c0:c1] - offset), 1, 65535)
                np.copyto(patch, spurious.astype(np.uint16), where=patch > 0)

    def truth(self) -> SyntheticGroundTruth:
        """The ground truth of every written frame."""
        return scene_truth(self)
