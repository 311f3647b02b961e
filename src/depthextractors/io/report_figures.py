"""The pictures of the extraction report (:mod:`depthextractors.io.report`), as PNG bytes.

- the background, the arena (ROI) drawn over it, and the first frame, each at the camera's
  resolution (one image pixel per camera pixel);
- a grid of sample crops spread over the session (what moseq2-pca will see);
- the centroid path in millimetres, and speed, height and heading traces over time;
- a quality timeline: frames without the animal, dropped frames, nose switches, frames whose
  heading the flip corrector was unsure of, frames tracked again (``retrack_jumps``).

The images of the camera frame are made with OpenCV and shown at one SVG unit per camera pixel
with a millimetre scale bar (and a colour bar where colour means height); the plots are SVG
drawn by :mod:`depthextractors.io.report_svg` (milliseconds, where matplotlib took seconds).
Every figure is one ``<svg>`` element; pure Python and OpenCV, so reports can be written from
worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .report_svg import LINE_COLOUR, image_panel, line_plot, path_plot
from .results import ExtractionResults

__all__ = [
    "CROP_GRID_COLUMNS",
    "LINE_COLOUR",
    "LOW_FLIP_CONFIDENCE",
    "REPORT_IMAGES",
    "ROI_COLOUR",
    "ReportFigure",
    "build_figures",
    "crop_grid",
    "false_colour",
    "low_confidence",
    "roi_overlay",
]

#: Colour (R, G, B) of the arena in the ROI overlay.
ROI_COLOUR = (255, 140, 0)
#: Tiles per row of the sample-crop grid.
CROP_GRID_COLUMNS = 6
#: Pixels between tiles of the crop grid (white).
CROP_GRID_GAP = 2
#: Timeline colours (R, G, B): animal found / not found, dropped frames, flips.
VALID_COLOUR = (44, 160, 44)
INVALID_COLOUR = (214, 39, 40)
DROPPED_COLOUR = (0, 0, 0)
FLIP_COLOUR = (148, 103, 189)
#: Timeline colour (R, G, B) of frames whose flip confidence is below LOW_FLIP_CONFIDENCE.
LOW_CONFIDENCE_COLOUR = (255, 127, 14)
#: Frames tracked again near where the frames round them put the animal (``retrack_jumps``).
TRACKED_AGAIN_COLOUR = (31, 119, 180)
#: Flip confidence (probability that the heading is right, 0.5 to 1) below which a frame is
#: marked in the quality timeline: below 0.9 about one such frame in ten or more is turned wrong.
LOW_FLIP_CONFIDENCE = 0.9
#: Quality timeline geometry: band height, gap between bands, left margin (labels), pixels.
TIMELINE_BAND = 24
TIMELINE_GAP = 6
TIMELINE_LEFT = 130

#: The pictures of a report, in page order: file stem and caption.
REPORT_IMAGES: dict[str, str] = {
    "background": "Background: median depth of the session (nearer is brighter)",
    "roi_overlay": "Arena (ROI) found, in orange over the background",
    "first_frame": "First frame: raw depth (nearer is brighter)",
    "crops": "Sample crops: the extracted animal, nose east",
    "centroid_path": "Centroid path on the floor (mm), arena outline in orange",
    "speed": "Speed (mm/s)",
    "height": "Mean height of the animal (mm)",
    "angle": "Heading angle (degrees)",
    "quality": "Quality timeline: animal found, dropped frames, nose switches, low flip "
    "confidence, frames tracked again",
}


@dataclass
class ReportFigure:
    """One picture of the report.

    Attributes
    ----------
    key : str
        File stem (``report/<key>.svg``, and ``.png`` for a picture) and element id in the
        page.
    caption : str
        What it shows.
    svg : str
        The figure as an ``<svg>`` element (a picture is embedded in it, with its scale bar
        and colour bar).
    png : bytes or None
        The picture alone, PNG-encoded (None for plots).
    note : str
        A detail shown under the caption (e.g. which frames the crops are).
    """

    key: str
    caption: str
    svg: str
    png: bytes | None = None
    note: str = ""


# ---------------------------------------------------------------------------------- images
def _png(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode an image of shape {rgb.shape} as PNG")
    return data.tobytes()


def false_colour(
    image: np.ndarray, low: float | None = None, high: float | None = None, valid=None
) -> np.ndarray:
    """An image in false colour (viridis), RGB uint8, one pixel per input pixel.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols)`` values (depth or height, mm).
    low, high : float, optional
        Values shown as the ends of the colour map; the 1st and 99th percentiles of the valid
        values by default.
    valid : numpy.ndarray, optional
        bool mask of values to show; others (and 0 / NaN by default) are black.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols, 3)`` uint8 RGB.
    """
    values = np.asarray(image, dtype=np.float64)
    if valid is None:
        valid = np.isfinite(values) & (values != 0)
    shown = values[valid]
    if shown.size == 0:
        return np.zeros((*values.shape, 3), dtype=np.uint8)
    low = float(np.percentile(shown, 1)) if low is None else float(low)
    high = float(np.percentile(shown, 99)) if high is None else float(high)
    span = max(high - low, 1e-9)
    level = np.clip((np.nan_to_num(values) - low) / span * 255.0, 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
    rgb[~valid] = 0
    return rgb


def roi_overlay(background: np.ndarray, roi: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """The background in grey with the arena tinted :data:`ROI_COLOUR` and outlined.

    Parameters
    ----------
    background : numpy.ndarray
        ``(rows, cols)`` background depth, mm (0 or NaN = invalid, shown black); the grey
        levels span its 1st to 99th percentile.
    roi : numpy.ndarray
        ``(rows, cols)`` bool arena mask.
    alpha : float, default 0.55
        Opacity of the tint over the arena (0 to 1).

    Returns
    -------
    numpy.ndarray
        ``(rows, cols, 3)`` uint8 RGB, one pixel per camera pixel.
    """
    values = np.asarray(background, dtype=np.float64)
    valid = np.isfinite(values) & (values > 0)
    grey = np.zeros(values.shape, dtype=np.uint8)
    if valid.any():
        low, high = np.percentile(values[valid], [1, 99])
        grey = np.clip((values - low) / max(high - low, 1e-9) * 200 + 30, 0, 255)
        grey = np.where(valid, grey, 0).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float64)
    mask = np.asarray(roi, dtype=bool)
    colour = np.array(ROI_COLOUR, dtype=np.float64)
    rgb[mask] = (1 - alpha) * rgb[mask] + alpha * colour
    out = np.clip(rgb, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, ROI_COLOUR, 1)
    return out


def crop_grid(crops: np.ndarray, max_height: float, columns: int = CROP_GRID_COLUMNS) -> np.ndarray:
    """Crops side by side in rows of ``columns`` tiles on white, in false colour (jet).

    Parameters
    ----------
    crops : numpy.ndarray
        ``(n, rows, cols)`` crop heights, mm (0 = not the animal, shown black).
    max_height : float
        Height shown at the top of the colour map, mm.
    columns : int
        Tiles per row.

    Returns
    -------
    numpy.ndarray
        ``(grid_rows * (rows + gap) + gap, columns * (cols + gap) + gap, 3)`` uint8 RGB, with
        :data:`CROP_GRID_GAP` white pixels around every tile; unused tiles of the last row are
        white.
    """
    count, rows, cols = crops.shape
    grid_rows = max(1, -(-count // columns))
    gap = CROP_GRID_GAP
    out = np.full((grid_rows * (rows + gap) + gap, columns * (cols + gap) + gap, 3), 255, np.uint8)
    for k in range(count):
        r, c = divmod(k, columns)
        heights = np.asarray(crops[k], dtype=np.float64)
        level = np.clip(heights / max(max_height, 1e-9) * 255, 0, 255).astype(np.uint8)
        tile = cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
        tile[heights <= 0] = 0
        top, left = gap + r * (rows + gap), gap + c * (cols + gap)
        out[top : top + rows, left : left + cols] = tile
    return out


def _quality_timeline(
    valid: np.ndarray,
    dropped_after: np.ndarray,
    flips: np.ndarray | None,
    duration_s: float,
    width: int = 1000,
    flip_confidence: np.ndarray | None = None,
    tracked_again: np.ndarray | None = None,
) -> np.ndarray:
    """Five labelled bands over time: animal found, dropped frames, nose switches, low flip
    confidence, frames tracked again.

    Animal found is green (red where not), dropped frames black, frames where the flip
    corrector switched the nose to the body axis's other end purple (:func:`nose_switches`:
    not the frames it left turned, whose share depends on the first frame), frames with
    the animal whose flip confidence (a probability, 0.5 to 1) is below
    :data:`LOW_FLIP_CONFIDENCE` orange, and frames tracked again near where the frames round
    them put the animal (``retrack_jumps``) blue.

    The bands are ``TIMELINE_BAND`` pixels high, start at column ``TIMELINE_LEFT`` and are
    ``width`` columns wide; column ``c`` stands for frames ``c * n // width`` onwards. A band
    with nothing to show (no flip corrector, no confidence, no frames tracked again recorded)
    stays grey.
    """
    n = valid.size
    band, gap, left = TIMELINE_BAND, TIMELINE_GAP, TIMELINE_LEFT
    labels = (
        "animal found", "dropped frames", "nose switched", "low flip conf.", "tracked again",
    )  # fmt: skip
    rows = len(labels)
    out = np.full((rows * band + rows * gap + 22, left + width + 10, 3), 255, dtype=np.uint8)
    for row, label in enumerate(labels):
        top = gap + row * (band + gap)
        cv2.putText(
            out, label, (6, top + band - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1,
            cv2.LINE_AA,
        )  # fmt: skip
        out[top : top + band, left : left + width] = (236, 236, 236)
    bottom = gap + rows * (band + gap)
    for x, text in ((left, "0 s"), (left + width - 60, f"{duration_s:.1f} s")):
        cv2.putText(
            out, text, (x, bottom + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (60, 60, 60), 1,
            cv2.LINE_AA,
        )  # fmt: skip
    if n == 0:
        return out
    # Column c shows frames [c * n // width, (c + 1) * n // width) (at least one frame), so
    # short sessions fill the band too; a column is marked if any of its frames is.
    starts = (np.arange(width) * n) // width

    def per_column(flags: np.ndarray) -> np.ndarray:
        return np.logical_or.reduceat(np.asarray(flags, dtype=bool), starts)

    top = gap
    out[top : top + band, left : left + width] = VALID_COLOUR
    out[top : top + band, left + np.flatnonzero(per_column(~valid))] = INVALID_COLOUR
    top += band + gap
    dropped = np.zeros(n, dtype=bool)
    after = np.asarray(dropped_after, dtype=np.int64)
    dropped[after[(after >= 0) & (after < n)]] = True
    out[top : top + band, left + np.flatnonzero(per_column(dropped))] = DROPPED_COLOUR
    top += band + gap
    if flips is not None:
        out[top : top + band, left + np.flatnonzero(per_column(nose_switches(flips, valid)))] = (
            FLIP_COLOUR
        )
    top += band + gap
    if flip_confidence is not None:
        low = low_confidence(flip_confidence, valid)
        out[top : top + band, left + np.flatnonzero(per_column(low))] = LOW_CONFIDENCE_COLOUR
    top += band + gap
    if tracked_again is not None:
        again = np.flatnonzero(per_column(tracked_again))
        out[top : top + band, left + again] = TRACKED_AGAIN_COLOUR
    return out


def nose_switches(flips: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Frames where the nose moved to the body axis's other end since the last frame with the
    animal.

    Parameters
    ----------
    flips : numpy.ndarray
        ``(n,)`` bool: the frame is turned 180 degrees from the body axis's unwrapped direction.
    valid : numpy.ndarray
        ``(n,)`` bool: the animal was found.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` bool.
    """
    flips = np.asarray(flips, dtype=bool)
    seen = np.flatnonzero(np.asarray(valid, dtype=bool))
    switched = np.zeros(flips.size, dtype=bool)
    turned = flips[seen]
    switched[seen[1:][turned[1:] != turned[:-1]]] = True
    return switched


def low_confidence(flip_confidence: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Frames with the animal whose flip confidence is below :data:`LOW_FLIP_CONFIDENCE`.

    NaN (no animal, or no confidence given) is not low: there is nothing to doubt.

    Parameters
    ----------
    flip_confidence : numpy.ndarray
        ``(n,)`` probability that each frame's heading is right (0.5 to 1, NaN for none).
    valid : numpy.ndarray
        ``(n,)`` bool: the animal was found.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` bool.
    """
    confidence = np.asarray(flip_confidence, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray(valid, dtype=bool) & (confidence < LOW_FLIP_CONFIDENCE)


# ---------------------------------------------------------------------------------- figures
def _break_at_wraps(times: np.ndarray, degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A NaN between frames where the heading wraps from +180 to -180 degrees (or back).

    Drawn through, a wrap looks like a full turn in one frame; the NaN breaks the line there.
    """
    wraps = np.flatnonzero(np.abs(np.diff(degrees)) > 180) + 1
    return (
        np.insert(np.asarray(times, dtype=float), wraps, np.nan),
        np.insert(np.asarray(degrees, dtype=float), wraps, np.nan),
    )


def _sample_indices(valid: np.ndarray, count: int) -> np.ndarray:
    candidates = np.flatnonzero(valid)
    if candidates.size == 0:
        candidates = np.arange(valid.size)
    if candidates.size <= count:
        return candidates
    picks = np.linspace(0, candidates.size - 1, count).round().astype(int)
    return np.unique(candidates[picks])


def _scalar(results: ExtractionResults, name: str) -> np.ndarray | None:
    if name not in results.scalars:
        return None
    return np.asarray(results.scalars[name][:], dtype=np.float64)


def build_figures(results: ExtractionResults, num_crops: int = 24) -> list[ReportFigure]:
    """All pictures of the report, in page order (see :data:`REPORT_IMAGES`).

    Parameters
    ----------
    results : ExtractionResults
        In memory or backed by ``results_00.h5`` (only the sampled crops are read).
    num_crops : int, default 24
        Crops shown in the grid, spread over the frames where the animal was found.

    Returns
    -------
    list of ReportFigure
        Arena pictures, then the crops, centroid path, speed (mm/s), height (mm) and angle
        (degrees) plots over time (seconds) when those scalars exist, then the quality
        timeline.
    """
    n = len(results)
    valid = results.valid if n else np.zeros(0, dtype=bool)
    times = np.asarray(results.timestamps, dtype=np.float64)
    times = times - times[0] if times.size and np.isfinite(times[0]) else np.arange(n) / 30.0
    max_height = float(results.parameters.get("max_height", 100.0))
    floor = FloorMapping.of(results)
    # Results read from an NWB file of scalars only have no arena images and no crops.
    arena = all(key in results.metadata for key in ("background", "roi", "true_depth"))
    figures = _arena_figures(results, max_height, floor) if arena else []
    has_crops = n and results.frames is not None
    picks = _sample_indices(valid, num_crops) if has_crops else np.zeros(0, dtype=int)
    if picks.size:
        figures.append(_crops_figure(results, picks, max_height, floor))
    figures += _trace_figures(results, times, floor, arena)
    figures.append(_quality_figure(results, valid, times))
    return figures


@dataclass
class FloorMapping:
    """Box-relative pixels to the millimetres the path is drawn in: ``mm = scale * px + offset``.

    Fitted by least squares on the frames with the animal, between the centroid in pixels
    (``centroid_x_px``, relative to the arena's bounding box) and in millimetres (this
    project's ``centroid_*_floor_mm``, or moseq2-extract's ``centroid_*_mm`` in files that
    have only those), so the arena outline and the scale bars agree with the plotted path
    whatever camera model made them.
    """

    names: tuple[str, str]
    scale: tuple[float, float]
    offset: tuple[float, float]

    @classmethod
    def of(cls, results: ExtractionResults) -> FloorMapping | None:
        """The mapping of ``results``, or None with fewer than two distinct positions."""
        px = _scalar(results, "centroid_x_px"), _scalar(results, "centroid_y_px")
        for names in (
            ("centroid_x_floor_mm", "centroid_y_floor_mm"),
            ("centroid_x_mm", "centroid_y_mm"),
        ):
            mm = _scalar(results, names[0]), _scalar(results, names[1])
            if any(v is None for v in (*mm, *px)):
                continue
            fits = [_affine(p, m) for p, m in zip(px, mm, strict=True)]
            if all(fit is not None for fit in fits):
                return cls(names, (fits[0][0], fits[1][0]), (fits[0][1], fits[1][1]))
        return None

    @property
    def mm_per_px(self) -> float:
        """Millimetres per pixel on the floor (the mean of the two axes)."""
        return float(np.mean(np.abs(self.scale)))

    def to_mm(self, xy_px: np.ndarray) -> np.ndarray:
        """``(k, 2)`` box-relative pixel coordinates in millimetres."""
        return np.asarray(xy_px, dtype=np.float64) * self.scale + self.offset


def _affine(px: np.ndarray, mm: np.ndarray) -> tuple[float, float] | None:
    both = np.isfinite(px) & np.isfinite(mm)
    if np.unique(px[both]).size < 2:
        return None
    scale, offset = np.polyfit(px[both], mm[both], 1)
    return float(scale), float(offset)


def _arena_outline_px(roi: np.ndarray) -> np.ndarray | None:
    """The arena's outer outline in pixels relative to its bounding box, ``(k, 2)`` (x, y)."""
    mask = np.asarray(roi, dtype=np.uint8)
    if not mask.any():
        return None
    rows, cols = np.nonzero(mask)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    largest = max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    return largest - (cols.min(), rows.min())


def _arena_figures(
    results: ExtractionResults, max_height: float, floor: FloorMapping | None
) -> list[ReportFigure]:
    """The background, the arena over it and the first frame, with scale and colour bars."""
    background = results.background
    roi = results.roi
    # Depth images as height above the floor, from just below it to 60 mm above (a mouse's
    # height; walls saturate): nearer is brighter, the floor, walls and animal told apart.
    true_depth = float(results.true_depth)
    below, above = -10.0, min(max_height, 60.0)
    mm_per_px = None if floor is None else floor.mm_per_px
    bar = {"low": below, "high": above, "label": "height above the floor (mm)",
           "colour_map": cv2.COLORMAP_VIRIDIS}  # fmt: skip

    def depth_figure(key: str, image: np.ndarray) -> ReportFigure:
        values = np.asarray(image, dtype=np.float64)
        valid_pixels = np.isfinite(values) & (values > 0)
        png = _png(false_colour(true_depth - values, below, above, valid=valid_pixels))
        svg = image_panel(png, values.shape, key, mm_per_px=mm_per_px, bar=bar)
        return ReportFigure(key, REPORT_IMAGES[key], svg, png)

    overlay = _png(roi_overlay(background, roi))
    first = results.metadata.get("first_frame", np.zeros_like(background))
    return [
        depth_figure("background", background),
        ReportFigure(
            "roi_overlay", REPORT_IMAGES["roi_overlay"],
            image_panel(overlay, roi.shape, "roi_overlay", mm_per_px=mm_per_px), overlay,
        ),
        depth_figure("first_frame", first),
    ]  # fmt: skip


def _crops_figure(
    results: ExtractionResults, picks: np.ndarray, max_height: float, floor: FloorMapping | None
) -> ReportFigure:
    """The crops of frames ``picks`` in a grid, coloured up to their 99th percentile height."""
    crops = np.asarray(results.frames[picks.tolist()])
    counted = f"{picks.size} crops, frames " if picks.size != 1 else "1 crop, frame "
    note = counted + ", ".join(str(int(i)) for i in picks)
    shown = crops[crops > 0]
    top = float(np.percentile(shown, 99)) if shown.size else max_height
    grid = crop_grid(crops, top)
    png = _png(grid)
    bar = {"low": 0.0, "high": top, "label": "height (mm)", "colour_map": cv2.COLORMAP_JET}
    svg = image_panel(
        png, grid.shape[:2], "crops", mm_per_px=None if floor is None else floor.mm_per_px,
        bar=bar, zoom=2.0,
    )  # fmt: skip
    return ReportFigure("crops", REPORT_IMAGES["crops"], svg, png, note)


def _trace_figures(
    results: ExtractionResults, times: np.ndarray, floor: FloorMapping | None, arena: bool
) -> list[ReportFigure]:
    """The centroid path, and speed, height and heading over time, for the scalars there."""
    figures = []
    # The floor position with the recording's own camera; moseq2-extract's files have only
    # their Kinect-v2-pixel millimetres.
    x_mm, y_mm = _scalar(results, "centroid_x_floor_mm"), _scalar(results, "centroid_y_floor_mm")
    if x_mm is None or y_mm is None:
        x_mm, y_mm = _scalar(results, "centroid_x_mm"), _scalar(results, "centroid_y_mm")
    if x_mm is not None and y_mm is not None:
        outline = None
        if arena and floor is not None and floor.names[0] in results.scalars:
            outline_px = _arena_outline_px(results.roi)
            outline = None if outline_px is None else floor.to_mm(outline_px)
        svg = path_plot(x_mm, y_mm, "centroid_path", outline)
        figures.append(ReportFigure("centroid_path", REPORT_IMAGES["centroid_path"], svg))
    speed = _scalar(results, "velocity_2d_mm_per_s")
    if speed is None and (per_frame := _scalar(results, "velocity_2d_mm")) is not None:
        step = float(np.median(np.diff(times))) if times.size > 1 else 1 / 30
        speed = per_frame / step
    series = [("speed", speed, "speed (mm/s)")]
    series.append(("height", _scalar(results, "height_ave_mm"), "mean height (mm)"))
    angle = _scalar(results, "angle")
    # moseq2-extract's scalars are 0, not NaN, where the animal is missing: a plotted 0 there
    # would read as an animal lying flat, so those frames are left out of the lines.
    missing = ~results.valid if len(results) else np.zeros(0, dtype=bool)
    for key, values, label in series:
        if values is not None:
            values = np.where(missing, np.nan, values)
            svg = line_plot(times, values, "time (s)", label, key)
            figures.append(ReportFigure(key, REPORT_IMAGES[key], svg))
    if angle is not None:
        degrees = np.degrees(np.angle(np.exp(1j * np.where(missing, np.nan, angle))))
        broken_times, broken = _break_at_wraps(times, degrees)
        svg = line_plot(broken_times, broken, "time (s)", "heading (degrees)", "angle")
        figures.append(ReportFigure("angle", REPORT_IMAGES["angle"], svg))
    return figures


def _quality_figure(
    results: ExtractionResults, valid: np.ndarray, times: np.ndarray
) -> ReportFigure:
    """The quality timeline, with a note saying what each colour marks and what is missing."""
    flips = None if results.flips is None else np.asarray(results.flips[:], dtype=bool)
    confidence = (
        None
        if results.flip_confidence is None
        else np.asarray(results.flip_confidence[:], dtype=np.float64)
    )
    duration = float(times[-1]) if times.size else 0.0
    note = (
        "animal found: green, not found: red; dropped frames: black; the flip corrector moved "
        "the nose to the body axis's other end: purple"
    )
    if flips is None:
        note += " (no flip corrector ran)"
    note += (
        f"; flip confidence below {LOW_FLIP_CONFIDENCE:g} (heading uncertain, worth a look): orange"
    )
    if confidence is None:
        note += " (no flip confidence recorded)"
    else:
        low = int(low_confidence(confidence, valid).sum())
        note += f" ({low:,} frames)"
    again = None
    note += "; tracked again near where the frames round them put the animal: blue"
    if results.tracked_again is None:
        note += " (not recorded: this run does not track frames again)"
    else:
        again = np.asarray(results.tracked_again[:], dtype=bool)
        note += f" ({int(again.sum()):,} frames)"
    timeline = _quality_timeline(
        valid, results.dropped_after, flips, duration, flip_confidence=confidence,
        tracked_again=again,
    )  # fmt: skip
    png = _png(timeline)
    svg = image_panel(png, timeline.shape[:2], "quality")
    return ReportFigure("quality", REPORT_IMAGES["quality"], svg, png, note)
