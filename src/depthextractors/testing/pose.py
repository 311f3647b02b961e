"""What the synthetic animal does besides walking: bending in turns, rearing, grooming.

A pose changes the body's shape seen from above. It is applied to body coordinates (``u``
towards the nose, ``v`` across, millimetres from the body centre): a **bend** curves the body
axis (``v`` shifted by ``curvature * u**2 / 2`` along the body, continued straight beyond it,
so the tail follows), a **pitch** lifts the front about a pivot behind the middle (the front
half is foreshortened seen from above and rises), and a **hunch** makes the body taller. The
rendering and the ground truth share these functions, so the truth is what was drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .animal import MouseShape

__all__ = ["Behaviour"]

#: The pivot of the pitch, as a fraction of the half-length behind the body centre.
_PIVOT = 0.2


@dataclass(frozen=True)
class Behaviour:
    """What the animal does besides walking and pausing.

    Bouts of rearing and grooming take place while the animal stands; they rise and fall over
    a few frames. The ground truth marks the frames (``rearing``, ``grooming``).

    Attributes
    ----------
    rearing : float
        Fraction of the frames spent rearing (the front lifted by up to ``rear_angle_deg``,
        foreshortened and taller).
    grooming : float
        Fraction of the frames spent grooming (shorter, rounder, taller, the head swinging
        from side to side).
    bending : float
        How much the body curves in turns (0: straight; 1 curves it by about 0.25 radians end
        to end in the tightest turns).
    rear_angle_deg : float
        Largest pitch of a rearing animal's front, degrees.
    walking_speed_mm_s : float or None
        Typical walking speed, mm/s; ``None`` keeps the original generator's 2.2 pixels per
        frame whatever the pixel size.
    """

    rearing: float = 0.0
    grooming: float = 0.0
    bending: float = 0.0
    rear_angle_deg: float = 65.0
    walking_speed_mm_s: float | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.rearing <= 0.5 and 0 <= self.grooming <= 0.5):
            raise ValueError("rearing and grooming must be fractions between 0 and 0.5")
        if self.bending < 0 or not 0 <= self.rear_angle_deg < 85:
            raise ValueError("bending must be >= 0 and rear_angle_deg in [0, 85)")
        if self.walking_speed_mm_s is not None and not self.walking_speed_mm_s > 0:
            raise ValueError("walking_speed_mm_s must be > 0 (or None)")


@dataclass
class Poses:
    """Per-frame pose of the animal (arrays of one value per frame)."""

    stretch: np.ndarray
    curvature: np.ndarray  # 1/mm
    pitch: np.ndarray  # radians
    hunch: np.ndarray  # height factor
    rearing: np.ndarray  # bool
    grooming: np.ndarray  # bool

    def neutral(self, index: int) -> bool:
        """Whether frame ``index`` has the straight, level body of the original generator."""
        return self.curvature[index] == 0 and self.pitch[index] == 0 and self.hunch[index] == 1.0


def plan_poses(
    behaviour: Behaviour | None,
    stretches: np.ndarray,
    directions: np.ndarray,
    moving: np.ndarray,
    shape: MouseShape,
    fs: float,
    rng: np.random.Generator,
) -> Poses:
    """Poses for a path: straight bodies without ``behaviour``; bends and bouts with it.

    Parameters
    ----------
    behaviour : Behaviour or None
        What the animal does; ``None`` keeps every frame's body straight and level.
    stretches, directions, moving : numpy.ndarray
        The path's per-frame body stretch, direction (radians) and walking flag.
    shape : MouseShape
        The animal.
    fs : float
        Frame rate, Hz.
    rng : numpy.random.Generator
        Draws the bouts (the path's own generator is left alone).

    Returns
    -------
    Poses
    """
    frames = stretches.size
    poses = Poses(
        stretch=stretches.copy(),
        curvature=np.zeros(frames),
        pitch=np.zeros(frames),
        hunch=np.ones(frames),
        rearing=np.zeros(frames, dtype=bool),
        grooming=np.zeros(frames, dtype=bool),
    )
    if behaviour is None:
        return poses
    if behaviour.bending:
        turn = np.r_[0.0, np.angle(np.exp(1j * np.diff(directions)))]
        # Smoothed turning rate: the body bends ahead of and through a turn.
        turn = np.convolve(turn, np.ones(5) / 5, mode="same")
        poses.curvature = behaviour.bending * 2.5 * turn / shape.half_length_mm
    standing = _runs(~moving)
    standing_frames = sum(stop - start for start, stop in standing) or 1
    chance_rear = min(1.0, behaviour.rearing * frames / standing_frames)
    chance_groom = min(1.0 - chance_rear, behaviour.grooming * frames / standing_frames)
    for start, stop in standing:
        draw = rng.random()
        if stop - start < 16 or draw >= chance_rear + chance_groom:
            continue
        weight = _bout_profile(stop - start)
        span = slice(start, stop)
        if draw < chance_rear:
            angle = math.radians(behaviour.rear_angle_deg) * rng.uniform(0.6, 1.0)
            poses.pitch[span] = angle * weight
            poses.hunch[span] = 1.0 + 0.3 * weight
            poses.rearing[span] = weight > 0.5
        else:
            period = rng.uniform(0.6, 1.4) * fs
            swing = np.sin(2 * np.pi * np.arange(stop - start) / period + rng.uniform(0, 6.3))
            poses.curvature[span] += 0.5 / shape.half_length_mm * weight * swing
            poses.stretch[span] *= 1.0 - 0.15 * weight
            poses.hunch[span] = 1.0 + 0.15 * weight
            poses.pitch[span] = math.radians(20.0) * weight
            poses.grooming[span] = weight > 0.5
    return poses


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True values."""
    padded = np.r_[False, flags, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _bout_profile(length: int, ramp: int = 6) -> np.ndarray:
    """Weights 0..1 over a bout: rising over ``ramp`` frames, holding, falling."""
    t = np.arange(length, dtype=np.float64)
    rise = np.clip((t - 1) / ramp, 0.0, 1.0)
    fall = np.clip((length - 2 - t) / ramp, 0.0, 1.0)
    return np.minimum(rise, fall)


def posed_heights(
    shape: MouseShape,
    u: np.ndarray,
    v: np.ndarray,
    stretch: float,
    curvature: float = 0.0,
    pitch: float = 0.0,
    hunch: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Heights (mm) of the posed body and of the tail at body coordinates seen from above.

    Parameters
    ----------
    shape : MouseShape
        The animal.
    u, v : numpy.ndarray
        Body coordinates of the points, millimetres (``u`` towards the nose).
    stretch, curvature, pitch, hunch : float
        The pose: length factor, bend (1/mm), pitch of the front (radians), height factor.

    Returns
    -------
    body, tail : numpy.ndarray
        Heights above the floor, millimetres (0 off the body / off the tail).
    """
    if curvature:
        v = v - _bend_offset(u, curvature, shape.half_length_mm * stretch)
    body_u = u
    if pitch:
        pivot = -_PIVOT * shape.half_length_mm * stretch
        ahead = u > pivot
        body_u = np.where(ahead, pivot + (u - pivot) / math.cos(pitch), u)
        rise = np.where(ahead, (body_u - pivot) * math.sin(pitch), 0.0)
    body = shape.body_height(body_u, v, stretch)
    if pitch:
        body = np.where(body > 0, body + rise, 0.0)
    if hunch != 1.0:
        body = body * hunch
    return body, shape.tail_height(u, v, stretch)


def project_body_point(
    shape: MouseShape, u: float, stretch: float, curvature: float, pitch: float
) -> tuple[float, float]:
    """Where the body-axis point ``u`` (mm) of the straight body lies, seen from above, in the
    posed body's coordinates ``(u, v)`` (mm)."""
    pivot = -_PIVOT * shape.half_length_mm * stretch
    if pitch and u > pivot:
        u = pivot + (u - pivot) * math.cos(pitch)
    v = 0.0
    if curvature:
        v = float(_bend_offset(np.array(u), curvature, shape.half_length_mm * stretch))
    return u, v


def _bend_offset(u: np.ndarray, curvature: float, half_length: float) -> np.ndarray:
    """Sideways shift (mm) of the bent body axis: a parabola along the body, straight beyond."""
    along = np.abs(u)
    inside = curvature * along**2 / 2.0
    beyond = curvature * (half_length**2 / 2.0 + half_length * (along - half_length))
    return np.where(along <= half_length, inside, beyond)


def posed_reach_mm(shape: MouseShape) -> float:
    """Largest distance (mm) from the body centre any pose covers (the render's box)."""
    return shape.reach_mm() + shape.half_length_mm * 0.5


def body_moments(
    shape: MouseShape,
    mm_per_px: float,
    stretch: float,
    curvature: float,
    pitch: float,
    hunch: float,
    samples: int = 120_000,
) -> dict[str, float]:
    """Ground-truth moments of a posed body above ``threshold_mm`` (tail excluded).

    Parameters
    ----------
    shape : MouseShape
        The animal.
    mm_per_px : float
        Pixel size on the floor, mm.
    stretch, curvature, pitch, hunch : float
        The pose (see :func:`posed_heights`).
    samples : int, default 120000
        About how many points sample the body.

    Returns
    -------
    dict of str to float
        ``u`` / ``v``: centroid in body coordinates (mm); ``axis``: body-axis angle from +u
        towards +v (radians, within pi/2 of +u); ``length_px`` / ``width_px`` (4 standard
        deviations along the principal axes), ``area_px``, ``height_mean_mm``, and
        ``peak_mm`` (the tallest point).
    """
    half_length = shape.half_length_mm * max(stretch, 1.0)
    side = shape.half_width_mm * 1.1 / math.sqrt(min(stretch, 1.0))
    side += abs(curvature) * half_length**2 / 2.0
    extent_u = half_length * 1.05
    step = math.sqrt(4.0 * extent_u * side / samples)
    step = min(step, mm_per_px / 4.0)
    u = np.arange(-extent_u, extent_u, step) + step / 2
    v = np.arange(-side, side, step) + step / 2
    uu, vv = np.meshgrid(u, v, indexing="ij")
    height, _ = posed_heights(shape, uu, vv, stretch, curvature, pitch, hunch)
    mask = height > shape.threshold_mm
    weight = float(mask.sum())
    mean_u = float((uu * mask).sum() / weight)
    mean_v = float((vv * mask).sum() / weight)
    du, dv = (uu - mean_u)[mask], (vv - mean_v)[mask]
    var_u, var_v, cov_uv = (du * du).mean(), (dv * dv).mean(), (du * dv).mean()
    common = math.sqrt(4.0 * cov_uv**2 + (var_u - var_v) ** 2)
    major = (var_u + var_v + common) / 2.0
    minor = max((var_u + var_v - common) / 2.0, 0.0)
    return {
        "u": mean_u,
        "v": mean_v,
        "axis": 0.5 * math.atan2(2.0 * cov_uv, var_u - var_v),
        "length_px": 4.0 * math.sqrt(major) / mm_per_px,
        "width_px": 4.0 * math.sqrt(minor) / mm_per_px,
        "area_px": weight * (step / mm_per_px) ** 2,
        "height_mean_mm": float(height[mask].mean()),
        "peak_mm": float(height.max()),
    }
