"""SVG pieces of the extraction report: line plots, the centroid path, colour bars, scale bars.

The report's plots are drawn as SVG text rather than with matplotlib: importing and rendering
matplotlib took longer than extracting a 9,000-frame session (about 2.7 s of a 10 s
``extract``), while an SVG of a few thousand points is a string built in milliseconds, stays
sharp at any zoom and is searchable in the page. Long series are reduced to the lowest and
highest value of each pixel column, so a one-frame spike still shows.

Coordinates are SVG user units (CSS pixels at 100% zoom); every function returns a complete
``<svg>`` element with a ``viewBox``, so it scales with the page.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "LINE_COLOUR",
    "colour_bar",
    "image_panel",
    "line_plot",
    "nice_ticks",
    "path_plot",
]

#: Colour of plotted lines (matplotlib's tab:blue, as before).
LINE_COLOUR = "#1f77b4"
#: Colour of the arena outline on the path plot.
OUTLINE_COLOUR = "#ff8c00"
_AXIS = "#555"
_GRID = "#e3e3e3"
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'
# Plot margins: left (tick labels and the axis label), right, top, bottom, in SVG units.
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 14, 12, 42


def nice_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering ``[low, high]``.

    Parameters
    ----------
    low, high : float
        The axis range.
    count : int, default 5
        About how many ticks.

    Returns
    -------
    numpy.ndarray
        Tick values inside ``[low, high]`` (at least one).
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return np.array([low if math.isfinite(low) else 0.0])
    raw = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = np.arange(first, high + step * 1e-9, step)
    return np.round(ticks, 12)


def _line(x1: float, y1: float, x2: float, y2: float, colour: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}"/>'


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


def _envelope(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``2 * columns`` points keeping each column's lowest and highest value."""
    if x.size <= 2 * columns:
        return x, y
    bins = np.minimum(((x - x[0]) / max(x[-1] - x[0], 1e-12) * columns).astype(int), columns - 1)
    starts = np.flatnonzero(np.r_[True, np.diff(bins) != 0])
    keep = []
    for start, stop in zip(starts, np.r_[starts[1:], x.size], strict=True):
        part = y[start:stop]
        pair = sorted({start + int(np.argmin(part)), start + int(np.argmax(part))})
        keep.extend(pair)
    index = np.asarray(keep)
    return x[index], y[index]


def _segments(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The runs of finite points (a NaN breaks the line)."""
    finite = np.isfinite(x) & np.isfinite(y)
    edges = np.flatnonzero(np.diff(np.r_[False, finite, False].astype(np.int8)))
    return [(x[a:b], y[a:b]) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class _Axes:
    """Maps data to SVG units inside a plot frame and draws its grid, ticks and labels."""

    def __init__(self, width: int, height: int, x_range, y_range, flip_y: bool = False):
        self.width, self.height = width, height
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        self.flip_y = flip_y
        self.inner = (_LEFT, _TOP, width - _LEFT - _RIGHT, height - _TOP - _BOTTOM)

    def sx(self, x):
        left, _, w, _ = self.inner
        return left + (np.asarray(x, dtype=float) - self.x0) / (self.x1 - self.x0) * w

    def sy(self, y):
        _, top, _, h = self.inner
        fraction = (np.asarray(y, dtype=float) - self.y0) / (self.y1 - self.y0)
        return top + (fraction if self.flip_y else 1.0 - fraction) * h

    def frame(self, xlabel: str, ylabel: str) -> list[str]:
        left, top, w, h = self.inner
        parts = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="white"/>']
        for tick in nice_ticks(self.x0, self.x1):
            x = float(self.sx(tick))
            parts.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + h}" stroke="{_GRID}"/>'
            )
            parts.append(
                f'<text x="{x:.1f}" y="{top + h + 15}" text-anchor="middle" fill="{_AXIS}" '
                f"{_FONT}>{_label(tick)}</text>"
            )
        for tick in nice_ticks(min(self.y0, self.y1), max(self.y0, self.y1)):
            y = float(self.sy(tick))
            parts.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="{_GRID}"/>'
            )
            parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{_AXIS}" '
                f"{_FONT}>{_label(tick)}</text>"
            )
        parts.append(
            f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="{_AXIS}"/>'
        )
        parts.append(
            f'<text x="{left + w / 2:.1f}" y="{self.height - 6}" text-anchor="middle" '
            f'fill="{_AXIS}" {_FONT}>{html.escape(xlabel)}</text>'
        )
        parts.append(
            f'<text transform="translate(14 {top + h / 2:.1f}) rotate(-90)" text-anchor="middle" '
            f'fill="{_AXIS}" {_FONT}>{html.escape(ylabel)}</text>'
        )
        return parts

    def polyline(self, x: np.ndarray, y: np.ndarray, colour: str, width: float) -> str:
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(self.sx(x), self.sy(y), strict=True))
        return (
            f'<polyline points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="{width}" stroke-linejoin="round"/>'
        )

    def empty_note(self) -> str:
        left, top, w, h = self.inner
        return (
            f'<text x="{left + w / 2:.1f}" y="{top + h / 2:.1f}" text-anchor="middle" '
            f'fill="#888" font-family="system-ui, sans-serif" font-size="15">'
            "no frames with the animal</text>"
        )


def _svg(width: int, height: int, parts: Sequence[str], key: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" data-key="{key}" role="img">'
        + "".join(parts)
        + "</svg>"
    )


def _range(values: np.ndarray, pad: float = 0.04) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    span = high - low if high > low else max(abs(high), 1.0)
    return low - pad * span, high + pad * span


def line_plot(
    x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str, key: str,
    width: int = 640, height: int = 260,
) -> str:  # fmt: skip
    """A line plot of ``y`` against ``x`` (NaN breaks the line).

    Parameters
    ----------
    x, y : numpy.ndarray
        ``(n,)`` values (e.g. time in s and a scalar in its unit).
    xlabel, ylabel : str
        Axis labels, with units.
    key : str
        ``data-key`` of the element (the figure it belongs to).
    width, height : int
        Size in SVG units.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x_range = (float(x[0]), float(x[-1])) if x.size else (0.0, 1.0)
    if not x_range[1] > x_range[0]:
        x_range = (x_range[0], x_range[0] + 1.0)
    axes = _Axes(width, height, x_range, _range(y))
    parts = axes.frame(xlabel, ylabel)
    columns = int(axes.inner[2])
    drawn = False
    for part_x, part_y in _segments(x, y):
        part_x, part_y = _envelope(part_x, part_y, columns)
        parts.append(axes.polyline(part_x, part_y, LINE_COLOUR, 0.9))
        drawn = True
    if not drawn:
        parts.append(axes.empty_note())
    return _svg(width, height, parts, key)


def path_plot(
    x_mm: np.ndarray, y_mm: np.ndarray, key: str, outline_mm: np.ndarray | None = None,
    size: int = 480,
) -> str:  # fmt: skip
    """The centroid path on the floor, equal scales, y down (as in the camera images).

    Parameters
    ----------
    x_mm, y_mm : numpy.ndarray
        ``(n,)`` centroid position, mm (NaN where the animal was not found).
    key : str
        ``data-key`` of the element.
    outline_mm : numpy.ndarray, optional
        ``(k, 2)`` the arena's outline in the same coordinates, drawn as a closed line.
    size : int
        Width and height in SVG units.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    x = np.asarray(x_mm, dtype=np.float64)
    y = np.asarray(y_mm, dtype=np.float64)
    all_x, all_y = x, y
    if outline_mm is not None and len(outline_mm):
        all_x = np.r_[x, outline_mm[:, 0]]
        all_y = np.r_[y, outline_mm[:, 1]]
    (x0, x1), (y0, y1) = _range(all_x), _range(all_y)
    # Equal scales: widen the narrower range about its centre.
    inner_w, inner_h = size - _LEFT - _RIGHT, size - _TOP - _BOTTOM
    scale = max((x1 - x0) / inner_w, (y1 - y0) / inner_h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x_range = (cx - scale * inner_w / 2, cx + scale * inner_w / 2)
    y_range = (cy - scale * inner_h / 2, cy + scale * inner_h / 2)
    axes = _Axes(size, size, x_range, y_range, flip_y=True)
    parts = axes.frame("x (mm)", "y (mm)")
    if outline_mm is not None and len(outline_mm):
        closed = np.vstack([outline_mm, outline_mm[:1]])
        parts.append(axes.polyline(closed[:, 0], closed[:, 1], OUTLINE_COLOUR, 1.6))
    drawn = False
    for part_x, part_y in _segments(x, y):
        parts.append(axes.polyline(part_x, part_y, LINE_COLOUR, 1.0))
        drawn = True
    if not drawn:
        parts.append(axes.empty_note())
    return _svg(size, size, parts, key)


def _colour_stops(colour_map: int, stops: int = 11) -> list[str]:
    levels = np.linspace(0, 255, stops).round().astype(np.uint8)[:, None]
    bgr = cv2.applyColorMap(levels, colour_map)[:, 0, :]
    return [f"#{r:02x}{g:02x}{b:02x}" for b, g, r in bgr]


def colour_bar(
    low: float, high: float, label: str, colour_map: int, gradient_id: str,
    x: float, y: float, length: float, reverse: bool = False,
) -> list[str]:  # fmt: skip
    """A vertical colour bar with ticks, as SVG elements to place in a larger ``<svg>``.

    Parameters
    ----------
    low, high : float
        Values at the bottom and the top of the colour map.
    label : str
        What the colours are, with the unit.
    colour_map : int
        OpenCV colour map (``cv2.COLORMAP_*``) the image was coloured with.
    gradient_id : str
        Unique id of the gradient in the page.
    x, y, length : float
        Top-left corner and height of the bar, SVG units.
    reverse : bool
        True when the top of the bar shows ``low`` (the image's colour index runs the other way).

    Returns
    -------
    list of str
        SVG elements.
    """
    colours = _colour_stops(colour_map)
    if not reverse:
        colours = colours[::-1]  # the gradient runs top to bottom
    stops = "".join(
        f'<stop offset="{k / (len(colours) - 1):.3f}" stop-color="{c}"/>'
        for k, c in enumerate(colours)
    )
    parts = [
        f'<defs><linearGradient id="{gradient_id}" x1="0" y1="0" x2="0" y2="1">{stops}'
        "</linearGradient></defs>",
        f'<rect x="{x}" y="{y}" width="14" height="{length}" fill="url(#{gradient_id})" '
        f'stroke="{_AXIS}" stroke-width="0.5"/>',
    ]
    for tick in nice_ticks(min(low, high), max(low, high), 4):
        fraction = (tick - low) / (high - low) if high != low else 0.0
        ty = y + (fraction if reverse else 1 - fraction) * length
        parts.append(
            f'<line x1="{x + 14}" y1="{ty:.1f}" x2="{x + 18}" y2="{ty:.1f}" stroke="{_AXIS}"/>'
        )
        parts.append(
            f'<text x="{x + 21}" y="{ty + 4:.1f}" fill="{_AXIS}" {_FONT}>{_label(tick)}</text>'
        )
    parts.append(
        f'<text transform="translate({x + 66} {y + length / 2:.1f}) rotate(90)" '
        f'text-anchor="middle" fill="{_AXIS}" {_FONT}>{html.escape(label)}</text>'
    )
    return parts


def _scale_bar(mm_per_px: float, image_width: int, x: float, y: float) -> list[str]:
    """A bar of a round length in mm, about a fifth of the image wide, with its label."""
    target_mm = image_width * mm_per_px / 5
    length_mm = float(nice_ticks(0, target_mm * 2, 2)[1]) if target_mm > 0 else 0.0
    if not length_mm > 0:
        return []
    pixels = length_mm / mm_per_px
    return [
        f'<rect x="{x}" y="{y}" width="{pixels:.1f}" height="5" fill="#222"/>',
        f'<text x="{x + pixels + 6:.1f}" y="{y + 6}" fill="#222" {_FONT}>'
        f"{_label(length_mm)} mm</text>",
    ]


def image_panel(
    png: bytes, size: tuple[int, int], key: str, *, mm_per_px: float | None = None,
    bar: dict | None = None, zoom: float = 1.0,
) -> str:  # fmt: skip
    """A raster picture in an ``<svg>``, with a mm scale bar under it and a colour bar beside.

    Parameters
    ----------
    png : bytes
        The picture, PNG-encoded.
    size : (int, int)
        Its ``(rows, cols)``.
    key : str
        ``data-key`` of the embedded ``<image>``.
    mm_per_px : float, optional
        Millimetres per image pixel on the floor, for the scale bar (none when not known).
    bar : dict, optional
        Arguments of :func:`colour_bar` but the position (``low``, ``high``, ``label``,
        ``colour_map``, ``reverse``); no colour bar when None.
    zoom : float, default 1
        SVG units per image pixel.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    rows, cols = size
    width, height = cols * zoom, rows * zoom
    top = 8 if bar is not None else 0  # room for the colour bar's top label
    data = base64.b64encode(png).decode("ascii")
    parts = [
        f'<image x="0" y="{top}" width="{width:g}" height="{height:g}" data-key="{key}" '
        f'preserveAspectRatio="none" style="image-rendering: pixelated" '
        f'href="data:image/png;base64,{data}"/>'
    ]
    total_h = top + height + (8 if bar is not None else 0)
    if mm_per_px is not None and mm_per_px > 0:
        parts += _scale_bar(mm_per_px / zoom, int(width), 4, top + height + 8)
        total_h = top + height + 22
    total_w = width
    if bar is not None:
        parts += colour_bar(
            gradient_id=f"{key}-colours", x=width + 10, y=top, length=height, **bar
        )  # fmt: skip
        total_w = width + 86
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w:g} {total_h:g}" '
        f'width="{total_w:g}" height="{total_h:g}" role="img">' + "".join(parts) + "</svg>"
    )
