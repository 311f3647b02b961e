"""The synthetic animal and what it carries: the mouse's body and a tether (millimetres)."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
