"""The synthetic animal and what it carries: the mouse's body and a tether (millimetres)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["MouseShape", "Tether"]


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
        Length and width (at its base) of the tail.
    tail_base_height_mm, tail_tip_height_mm : float
        Tail height where it leaves the body and at its tip.
    threshold_mm : float
        Height above which a pixel counts as the animal for the ground truth (moseq2's default
        ``min_height``).
    tail_tip_width_mm : float or None
        Width of the tail at its tip (``None``: as wide as at its base).
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
    tail_tip_width_mm: float | None = None

    @classmethod
    def rat(cls, scale: float = 1.0) -> MouseShape:
        """An adult rat's body (about 230 mm nose to rump at ``scale=1``).

        Parameters
        ----------
        scale : float, default 1
            Factor on every length and height (0.6 is a juvenile).

        Returns
        -------
        MouseShape
        """
        scale = float(scale)
        return cls(
            half_length_mm=115.0 * scale,
            half_width_mm=36.0 * scale,
            head_narrowing=0.45,
            rear_height_mm=80.0 * scale,
            nose_height_mm=45.0 * scale,
            tail_length_mm=190.0 * scale,
            tail_width_mm=9.0 * scale,
            tail_base_height_mm=16.0 * scale,
            tail_tip_height_mm=3.0,
            tail_tip_width_mm=3.0 * scale,
        )

    def scaled(self, factor: float) -> MouseShape:
        """The same animal with every length and height times ``factor`` (the threshold kept).

        Parameters
        ----------
        factor : float
            Size factor (0.7 is a juvenile mouse, 1.2 a large adult).

        Returns
        -------
        MouseShape
        """
        tip = self.tail_tip_width_mm
        factor = float(factor)
        return replace(
            self,
            half_length_mm=self.half_length_mm * factor,
            half_width_mm=self.half_width_mm * factor,
            rear_height_mm=self.rear_height_mm * factor,
            nose_height_mm=self.nose_height_mm * factor,
            tail_length_mm=self.tail_length_mm * factor,
            tail_width_mm=self.tail_width_mm * factor,
            tail_base_height_mm=self.tail_base_height_mm * factor,
            tail_tip_width_mm=None if tip is None else tip * factor,
        )

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
        if self.tail_tip_width_mm is None:
            half_width = self.tail_width_mm / 2.0
        else:
            half_width = (
                self.tail_width_mm + (self.tail_tip_width_mm - self.tail_width_mm) * along
            ) / 2.0
        on_tail = (along >= 0.0) & (along <= 1.0) & (np.abs(v) <= half_width)
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

    Seen from above, the cable runs from its attachment on the animal to an anchor, rising from
    ``attach_height_mm`` to ``top_height_mm`` at the anchor. With ``route="wall"`` the anchor is
    outside the arena wall and sways around the arena so the cable swings; with
    ``route="commutator"`` it is a commutator above the arena (at ``commutator_offset`` from
    the arena centre, ``top_height_mm`` above the floor) and the cable follows the animal. A
    slack cable sags by ``slack_mm`` (deepest at ``slack_at`` of its length from the animal,
    never below lying on the floor) and bows sideways by ``bow_mm``.

    Attributes
    ----------
    width_mm : float
        Cable width (with its sleeve), mm: 0.5-2 for a bare fibre, 10 or more for a bundle.
    attach_height_mm : float
        Height of the cable above the floor where it leaves the animal, mm.
    top_height_mm : float
        Height of the cable above the floor at the anchor (or the commutator), mm.
    attach_offset : float
        Attachment point along the body axis as a fraction of the half-length (negative is
        towards the rear, about 0.6 is the head).
    sway_deg : float
        Amplitude of the wall anchor's swing around the arena centre, degrees.
    sway_period_s : float
        Period of the swing, seconds.
    route : {"wall", "commutator"}
        Where the cable goes.
    slack_mm : float
        How far the cable sags below the straight line, mm (0: taut).
    slack_at : float
        Where along the cable (fraction of its length from the animal) the sag is deepest.
    bow_mm : float
        How far the slack cable bows sideways, seen from above, mm.
    commutator_offset : (float, float)
        Commutator position from the arena centre, as fractions of the arena's half-size.
    connector_mm : float
        Diameter of the connector (ferrule, headstage) that holds the cable on the animal, mm;
        it rises from the animal's back to ``attach_height_mm`` (0: none).
    partial_pixels : bool
        Pixels the cable only partly covers show it with a chance equal to the covered
        fraction (a thin fibre looks broken up, as depth sensors see it); otherwise a pixel
        shows the cable when its centre lies under it.
    """

    width_mm: float = 5.0
    attach_height_mm: float = 44.0
    top_height_mm: float = 350.0
    attach_offset: float = -0.2
    sway_deg: float = 25.0
    sway_period_s: float = 6.0
    route: str = "wall"
    slack_mm: float = 0.0
    slack_at: float = 0.3
    bow_mm: float = 0.0
    commutator_offset: tuple[float, float] = (0.0, 0.0)
    connector_mm: float = 0.0
    partial_pixels: bool = False

    def __post_init__(self) -> None:
        if self.route not in ("wall", "commutator"):
            raise ValueError(f"route must be 'wall' or 'commutator', got {self.route!r}")
        if not self.width_mm > 0 or self.slack_mm < 0 or not 0 < self.slack_at < 1:
            raise ValueError("width_mm must be > 0, slack_mm >= 0 and slack_at in (0, 1)")

    @property
    def straight(self) -> bool:
        """Whether the cable runs straight (no sag, no bow) from the animal to the anchor."""
        return self.slack_mm == 0 and self.bow_mm == 0
