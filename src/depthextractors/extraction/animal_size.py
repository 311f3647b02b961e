"""The animal's size in the recording's pixels, and the settings that follow from it.

moseq2-extract's defaults are sizes in pixels chosen for an adult mouse filmed by a Kinect v2
about 700 mm above the floor: a 9x9 tail filter (about half the body's width), an 80x80 crop,
a 120 mm height range, the EM tracker's log-likelihood thresholds and covariance floor. A rat,
a juvenile, another camera or another distance changes the body's size in pixels and those
settings stop fitting: a 9x9 opening erases a mouse 8 pixels wide (the animal is never found),
a rat is longer than the crop, the EM tracker's model drifts off a body four times larger.

This module measures the animal (:func:`measure_animal`), or takes a physical preset
(:func:`preset_size`), and gives the moseq2 keys' values for that size
(:func:`size_settings`): each size-dependent setting scaled by the animal's width (and height)
relative to the reference mouse above. :func:`size_changes` keeps those of the keys still at
moseq2's defaults; the workflow applies them for ``animal: auto`` / ``animal: rat``.

The measurement also says whether something thin and long leaves the body in many frames (a
tether, a cable to the wall or the commutator), for the report's cautions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from ..cameras import get_camera
from .box_windows import cable_ridges
from .filters import label_regions, largest_region
from .parameters import default_value, parameter_spec

__all__ = [
    "SIZED_KEYS",
    "AnimalSize",
    "AnimalSizeWarning",
    "filter_may_erase",
    "measure_animal",
    "preset_size",
    "size_changes",
    "size_settings",
]

#: The animal and view moseq2-extract's defaults were chosen for: an adult mouse (rear width
#: 28 mm, back 35 mm high) under a Kinect v2 whose floor is 700 mm away (1.7 mm per pixel).
REFERENCE_WIDTH_MM = 28.0
REFERENCE_HEIGHT_MM = 35.0
REFERENCE_MM_PER_PX = float(np.mean(get_camera("kinect_v2").mm_per_pixel(700.0)))

#: Physical presets (width, length, back height, tallest height when rearing; mm).
PRESETS = {
    "mouse": (REFERENCE_WIDTH_MM, 90.0, REFERENCE_HEIGHT_MM, 100.0),
    "rat": (60.0, 220.0, 80.0, 250.0),
}

#: The moseq2 keys that follow the animal's size (:func:`size_settings`).
SIZED_KEYS = (
    "tether_filter_size", "tail_filter_size", "crop_size", "max_height",
    "tracking_model_init_strel", "tracking_model_regularization",
    "tracking_model_mask_threshold", "tracking_model_ll_threshold",
)  # fmt: skip
# A tail filter may erase an animal narrower than this many times its size.
_FILTER_MARGIN = 1.2
# Frames sampled for the measurement, spread evenly over the recording.
_SAMPLE_FRAMES = 40
# Fewest sampled frames with an animal for a measurement to be trusted.
_MIN_FRAMES_FOUND = 5
# A frame shows a tether when this many pixels of the object lie farther from the body's
# centre than this many body half-lengths (the tail lies below min_height beyond the body).
_TETHER_REACH = 2.0
_TETHER_MIN_PIXELS = 8
# ... and is thin: its widest point under this share of the body's half-width. A bundle beside
# a juvenile mouse at 3 mm a pixel is half as wide as the body (drawn session 39 of the
# accuracy benchmark); walls, objects and hands touching the animal are as thick as it.
_TETHER_THICKNESS = 0.75
# ... or, nearer the body, when this many of its pixels stand higher than this many times the
# back height: a cable rising to a commutator leaves the height range (max_height) before it
# reaches far, while tails lie low and a rearing head is body, not a thin part beside it.
_TETHER_RISE = 1.5
# Objects (by area) looked at for the thickest one.
_CANDIDATES = 4
#: A tether is seen when the measurement saw one in at least this share of the sampled frames.
TETHER_SHARE = 0.15
# The tether filter removes thin parts narrower than this share of the body's width.
_TETHER_FILTER_WIDTH = 0.6
# A body at least this wide (mm) is a rat's (an adult mouse's is under 35 mm).
_RAT_WIDTH_MM = 45.0
#: A pixel reading deeper than the background in at least this share of the sampled frames
#: (and at least 2 of them) holds something the background has and the frames often lack.
LEFT_SHARE = 0.1
# The crop grows when the animal's median length passes this share of it, to hold the animal
# with moseq2's margin (its 80-pixel crop and a Kinect mouse about 50 px long).
_CROP_FILL = 0.75
_CROP_MARGIN = 0.6


class AnimalSizeWarning(UserWarning):
    """The animal's size does not fit the settings (a filter wider than the animal)."""


@dataclass(frozen=True)
class AnimalSize:
    """How large the animal is in one recording.

    Attributes
    ----------
    source : str
        ``"measured"`` (from sampled frames) or a preset's name (``"rat"``).
    width_px : float
        Body width, pixels: twice the radius of the largest disc inside the body, median over
        the sampled frames.
    length_px : float
        Body length (4 sqrt of the largest eigenvalue of the body's second moments, as the
        ``length_px`` scalar), pixels, median over the sampled frames.
    height_mm : float
        Height of the back (75th percentile of the body's heights), mm, median over frames.
    tallest_mm : float
        Tallest an animal of this size stands when rearing, mm: the preset's, or for a
        measured animal a rat's when its body is at least 45 mm wide, a mouse's otherwise
        (measured heights would count a tether rising from the back).
    mm_per_px : float
        Pixel size at the floor, mm.
    frames_found : int
        Sampled frames in which an animal was found (0 for presets).
    tether_share : float
        Share of those frames in which something thin reaches well beyond the body (a tether
        or cable); NaN for presets.
    left_background_px : int
        Pixels of the arena's largest 8-connected region that reads more than ``min_height``
        deeper than the background in at least 10% of the sampled frames, of what holds
        discs half the body's width across: something as thick as an animal that the
        background holds and that was often elsewhere, most likely the animal where it rested
        through most of the recording (the background's median frame holds it; where it rests
        its heights are then about 0). 0 for presets.
    """

    source: str
    width_px: float
    length_px: float
    height_mm: float
    tallest_mm: float
    mm_per_px: float
    frames_found: int = 0
    tether_share: float = float("nan")
    left_background_px: int = 0

    @property
    def scale(self) -> float:
        """Width relative to the reference mouse at the reference view (1 = moseq2's)."""
        return self.width_px / (REFERENCE_WIDTH_MM / REFERENCE_MM_PER_PX)

    def describe(self) -> str:
        """One line for logs and reports."""
        text = (
            f"{self.width_px:.1f} px wide, {self.length_px:.1f} px long, back "
            f"{self.height_mm:.0f} mm ({self.source}"
        )
        if self.frames_found:
            text += f", {self.frames_found} frames; a tether in {100 * self.tether_share:.0f}%"
        return text + ")"

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the results' metadata (``animal_size``)."""
        return asdict(self)


def filter_may_erase(width_px: float, tail_filter_size: Any, tail_filter_iters: int) -> bool:
    """Whether the tail filter is nearly as wide as an animal ``width_px`` pixels wide (so
    its opening may erase it; the warning of ``animal: mouse`` and the report's caution)."""
    return bool(tail_filter_iters) and width_px < _FILTER_MARGIN * max(tail_filter_size)


def preset_size(name: str, camera: Any, floor_depth_mm: float) -> AnimalSize:
    """The size of a physical preset seen from ``floor_depth_mm`` by ``camera``.

    Parameters
    ----------
    name : {"mouse", "rat"}
        The preset.
    camera : CameraModel or str
        The recording's camera.
    floor_depth_mm : float
        Distance from the camera to the floor, mm (the arena's true depth).

    Returns
    -------
    AnimalSize
    """
    if name not in PRESETS:
        raise ValueError(f"animal must be one of {sorted(PRESETS)} or 'auto', got {name!r}")
    width, length, height, tallest = PRESETS[name]
    mm_per_px = float(np.mean(get_camera(camera).mm_per_pixel(floor_depth_mm - height / 2)))
    return AnimalSize(name, width / mm_per_px, length / mm_per_px, height, tallest, mm_per_px)


def measure_animal(
    extractor: Any,
    background: np.ndarray,
    roi: np.ndarray,
    true_depth: float,
    min_height: float = 10.0,
    max_height: float = 120.0,
    frame_range: tuple[int, int] | None = None,
    sample_frames: int = _SAMPLE_FRAMES,
) -> AnimalSize | None:
    """Measure the animal on frames sampled evenly over the recording.

    In each sampled frame the pixels of the arena between ``min_height`` and ``max_height``
    above the background are the objects; the thickest 8-connected one (holding the largest
    disc) is the animal with anything attached. The body is what remains after an opening by a
    disc three quarters as wide as the object (tails and tethers are thinner); its width,
    length and heights are measured, and thin parts of the object far beyond the body's end
    count as a tether.

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The recording.
    background : numpy.ndarray
        ``(rows, cols)`` background depth, mm.
    roi : numpy.ndarray
        ``(rows, cols)`` bool arena mask.
    true_depth : float
        Floor depth, mm (for the pixel size).
    min_height, max_height : float, default 10, 120
        Heights of the animal, mm (the tracker's).
    frame_range : (int, int), optional
        ``[first, last)`` frames to sample from (default: all).
    sample_frames : int, default 40
        Frames sampled.

    Returns
    -------
    AnimalSize or None
        None when fewer than 5 sampled frames show an animal.

    Notes
    -----
    The same frames tell whether the background holds the animal
    (:attr:`AnimalSize.left_background_px`): where pixels read more than ``min_height``
    deeper than the background in many of them, the background has something there that the
    frames often lack.
    """
    first, last = frame_range if frame_range is not None else (0, extractor.get_num_frames())
    indices = np.unique(np.linspace(first, last - 1, min(sample_frames, last - first)).astype(int))
    roi = np.asarray(roi, dtype=bool)
    rows = np.flatnonzero(roi.any(axis=1))
    cols = np.flatnonzero(roi.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    floor = np.asarray(background, dtype=np.float32)[box]
    outside = ~roi[box]
    invalid = tuple(extractor.camera.invalid_depths)
    bodies = []
    deeper = np.zeros(floor.shape, dtype=np.uint16)
    # One read of every sampled frame, as the background takes its frames.
    for frame in extractor.get_frames(indices):
        depth = frame[box]
        heights = floor - depth.astype(np.float32)
        heights[outside | np.isin(depth, invalid)] = 0
        below = cv2.medianBlur(np.clip(-heights, 0, 255).astype(np.uint8), 3) > min_height
        deeper += below
        # The median blur sees every height, as the extraction's spatial filter does, before
        # the height range is applied.
        blurred = cv2.medianBlur(np.clip(heights, 0, 255).astype(np.uint8), 3)
        blurred[(blurred < min_height) | (heights > max_height)] = 0
        body = _body(blurred)
        if body is not None:
            bodies.append(body)
    if len(bodies) < _MIN_FRAMES_FOUND:
        return None
    widths, lengths, backs, tethered = (np.array(v) for v in zip(*bodies, strict=True))
    mm_per_px = float(np.mean(extractor.camera.mm_per_pixel(true_depth)))
    width = float(np.median(widths))
    kind = "rat" if width * mm_per_px >= _RAT_WIDTH_MM else "mouse"
    return AnimalSize(
        source="measured",
        width_px=round(width, 2),
        length_px=round(float(np.median(lengths)), 2),
        height_mm=round(float(np.median(backs)), 1),
        tallest_mm=PRESETS[kind][3],
        mm_per_px=round(mm_per_px, 4),
        frames_found=len(bodies),
        tether_share=round(float(np.mean(tethered)), 3),
        left_background_px=_left_background(
            deeper >= max(2, math.ceil(LEFT_SHARE * len(indices))), width
        ),
    )


def _left_background(often_deeper: np.ndarray, width: float) -> int:
    """Pixels of the largest 8-connected region of ``often_deeper`` that holds discs half the
    body's ``width`` (pixels) across: what the background holds and the frames often lack,
    as thick as an animal (a cable swinging under the commutator leaves a thin band)."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(width / 2),) * 2)
    thick = cv2.morphologyEx(often_deeper.view(np.uint8), cv2.MORPH_OPEN, disc)
    count, _, stats = label_regions(thick)
    return int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0


def _body(heights: np.ndarray) -> tuple[float, float, float, bool] | None:
    """Width, length (px), back height (mm), tether seen, of the thickest object."""
    found = _thickest(heights > 0)
    if found is None:
        return None
    whole, (row, col) = found
    # The object's box with the one-pixel border _thickest gives it.
    heights = np.pad(heights, 1)[row : row + whole.shape[0], col : col + whole.shape[1]]
    radius = float(cv2.distanceTransform(whole, cv2.DIST_L2, 5).max())
    # Tails and tethers are thinner than three quarters of the body's width; the head is not.
    side = max(3, 2 * int(0.75 * radius) + 1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    core = largest_region(cv2.morphologyEx(whole, cv2.MORPH_OPEN, disc))
    if core is None or np.count_nonzero(core) < 10:
        return None
    # The opening also rounds off the head: what lies within one disc of the core is body
    # (a tether keeps only a stub that long).
    body = whole & cv2.dilate(core, disc)
    ys, xs = np.nonzero(body)
    eigen = np.linalg.eigvalsh(np.cov(np.vstack([xs, ys])))
    # A rodent's body is at most about four times as long as it is wide.
    length = min(4.0 * math.sqrt(max(float(eigen[-1]), 0.0)), 8.0 * radius)
    back = _back_height(heights, body)
    rising = heights > _TETHER_RISE * back
    return (
        2.0 * radius,
        length,
        back,
        _tethered(whole, body, (xs.mean(), ys.mean()), length, radius, rising),
    )


def _back_height(heights: np.ndarray, body: np.ndarray) -> float:
    """The back's height, mm: the 75th percentile of ``heights`` (mm) over ``body``, without
    a cable lying over it (:func:`~.box_windows.cable_ridges`).

    A bundle lying along the back can cover half the body's pixels, and its height was then
    the body's 75th percentile (1.3-2.6 times the back's peak in a quarter of drawn bundle
    sessions)."""
    # A ridge's pixels are taller than the body's median: never all of them.
    return float(np.percentile(heights[(body > 0) & ~cable_ridges(heights, body)], 75))


def _thickest(binary: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The 8-connected part of ``binary`` holding the largest disc, cut to its box with a
    border of one pixel, as uint8 0/1, and the box's ``(row, col)`` in ``binary`` padded by
    one pixel; None when no part has 20 pixels or more.

    The animal is the thickest object above the floor; a wall's rim left in the arena, a
    cable on the floor or bedding can be larger, but are thin.
    """
    _, labels, stats = label_regions(binary)
    best, best_depth = None, 0.0
    origin = (0, 0)
    for label in 1 + np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:_CANDIDATES]:
        if stats[label, cv2.CC_STAT_AREA] < 20:
            break
        x, y, w, h = (int(v) for v in stats[label, :4])
        # A border of one pixel: the distance transform measures to the object's edge.
        part = np.zeros((h + 2, w + 2), np.uint8)
        part[1:-1, 1:-1] = labels[y : y + h, x : x + w] == label
        depth = float(cv2.distanceTransform(part, cv2.DIST_L2, 5).max())
        if depth > best_depth:
            best, best_depth, origin = part, depth, (y, x)
    return None if best is None else (best, origin)


def _tethered(
    whole: np.ndarray, body: np.ndarray, centre: tuple[float, float], length: float,
    radius: float, rising: np.ndarray,
) -> bool:  # fmt: skip
    """Whether a thin part of the object reaches well beyond the body's end, or rises well
    above its back (``rising``: the object's pixels higher than 1.5 times the back height).

    Walls, objects and hands touching the animal are as thick as it; a tether or cable is
    thin (its widest point under three quarters of the body's half-width).
    """
    rest = whole & ~cv2.dilate(body, np.ones((3, 3), np.uint8))
    count, labels, _ = label_regions(rest)
    for label in range(1, count):
        part = (labels == label).astype(np.uint8)
        ys, xs = np.nonzero(part)
        reach = np.hypot(xs - centre[0], ys - centre[1])
        far = np.count_nonzero(reach > _TETHER_REACH * length / 2)
        high = np.count_nonzero(rising[ys, xs])
        if max(far, high) < _TETHER_MIN_PIXELS:
            continue
        if cv2.distanceTransform(part, cv2.DIST_L2, 5).max() < _TETHER_THICKNESS * radius:
            return True
    return False


def _odd(value: float) -> int:
    return max(3, 2 * round((value - 1) / 2) + 1)


def size_settings(
    size: AnimalSize, defaults: Mapping[str, Any], max_height_cap: float | None = 255.0
) -> dict[str, Any]:
    """The moseq2 keys' values for an animal of this size.

    Each size-dependent default (``defaults``: moseq2's, for the reference mouse) is scaled by
    the animal's width relative to the reference (``AnimalSize.scale``): the tail filter and
    the EM tracker's initialising opening by the scale, its covariance floor by its square, its
    log-likelihood thresholds shifted by the change of a 3-D Gaussian's log-normaliser (so they
    keep meaning the same distance from the model's centre); the openings shrink for a smaller
    animal but never grow. The crop grows, never shrinks, when the animal's median length
    passes 75% of it, to hold it with moseq2's margin; ``max_height`` rises, never falls, to 1.2
    times the tallest an animal of this size stands (within ``max_height_cap``).

    Parameters
    ----------
    size : AnimalSize
        The animal.
    defaults : mapping
        moseq2's defaults of the keys returned.
    max_height_cap : float or None, default 255
        Largest ``max_height`` (mm): 255 for 8-bit frames, None for 16-bit ones.

    Returns
    -------
    dict
        ``tether_filter_size`` (three fifths of the width for an animal seen with a tether in at
        least 15% of the sampled frames, else 0), ``tail_filter_size``, ``crop_size``,
        ``max_height``, ``tracking_model_init_strel``,
        ``tracking_model_regularization``, ``tracking_model_mask_threshold``,
        ``tracking_model_ll_threshold``.
    """
    scale = size.scale
    height_scale = max(size.height_mm, 1.0) / REFERENCE_HEIGHT_MM
    shift = -(2.0 * math.log(scale) + math.log(height_scale))
    # Openings shrink with a smaller animal (a 9x9 one erases a body 8 px wide) but do not
    # grow with a larger one: a wider opening cuts into the head and moves the centroid back.
    tail = min(defaults["tail_filter_size"][0], _odd(defaults["tail_filter_size"][0] * scale))
    strel = min(
        defaults["tracking_model_init_strel"][0],
        _odd(defaults["tracking_model_init_strel"][0] * scale),
    )
    crop = int(max(defaults["crop_size"]))
    if size.length_px > _CROP_FILL * crop:
        crop = 8 * math.ceil(size.length_px / _CROP_MARGIN / 8)
    tallest = 10 * math.ceil(1.2 * size.tallest_mm / 10)
    max_height = float(max(defaults["max_height"], tallest))
    if max_height_cap is not None:
        max_height = min(max_height_cap, max_height)
    tethered = size.tether_share >= TETHER_SHARE  # False for NaN (presets)
    return {
        "tether_filter_size": _odd(_TETHER_FILTER_WIDTH * size.width_px) if tethered else 0,
        "tail_filter_size": (tail, tail),
        "crop_size": (crop, crop),
        "max_height": max_height,
        "tracking_model_init_strel": (strel, strel),
        "tracking_model_regularization": round(defaults["tracking_model_regularization"]
                                               * scale**2, 2),
        "tracking_model_mask_threshold": round(defaults["tracking_model_mask_threshold"] + shift,
                                               2),
        "tracking_model_ll_threshold": round(defaults["tracking_model_ll_threshold"] + shift, 2),
    }  # fmt: skip


def size_changes(values: Mapping[str, Any], size: AnimalSize) -> dict[str, Any]:
    """The keys to change for an animal of this size: those still at moseq2's defaults.

    Parameters
    ----------
    values : mapping
        The configuration's key values (an ``ExtractionConfig``).
    size : AnimalSize
        The animal.

    Returns
    -------
    dict
        Key to new value, for every size-dependent key whose value is moseq2's default and
        whose sized value differs from it (a value set to something else is kept).
    """
    defaults = {key: default_value(parameter_spec(key)) for key in SIZED_KEYS}
    cap = None if values.get("frame_dtype") == "uint16" else 255.0
    sized = size_settings(size, defaults, max_height_cap=cap)
    return {
        key: value
        for key, value in sized.items()
        if _same(values[key], defaults[key]) and not _same(value, defaults[key])
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return tuple(a) == tuple(b)
    return a == b
