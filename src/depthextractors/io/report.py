"""A per-session extraction report: one self-contained HTML page, plus its pictures as PNG files.

``report.html`` (next to ``results_00.h5``) shows what a user checks after an extraction: a
warning at the top when the animal was mostly not found, a table of figures (frames, % valid,
dropped frames, flips, flip confidence, true depth, ROI area), the pictures of
:mod:`depthextractors.io.report_figures` (the arena, sample crops, the centroid path, speed,
height and heading traces, a quality timeline) and the extraction parameters.

Every figure is inline SVG in the page (pictures as base64 PNG inside it), so the page can be
mailed or archived on its own; each is also written beside it in ``report/`` (``<key>.svg``,
and ``<key>.png`` for the pictures) for use elsewhere.
"""

from __future__ import annotations

import datetime as _datetime
import html
import math
import os
from pathlib import Path

import numpy as np

from ..extraction.animal_size import LEFT_SHARE, TETHER_SHARE, filter_may_erase
from .output_dir import format_bytes, output_error, partial_path
from .report_figures import (
    LOW_FLIP_CONFIDENCE,
    ReportFigure,
    build_figures,
    low_confidence,
    nose_switches,
)
from .results import ExtractionResults

__all__ = ["cautions", "render_html", "write_report"]


def _summary(results: ExtractionResults) -> list[tuple[str, str]]:
    n = len(results)
    valid = results.valid if n else np.zeros(0, dtype=bool)
    times = np.asarray(results.timestamps, dtype=np.float64)
    duration = float(times[-1] - times[0]) if n > 1 and np.all(np.isfinite(times[[0, -1]])) else 0
    acquisition = results.metadata.get("acquisition", {}) or {}
    parameters = results.parameters
    rows = [
        ("Session", str(acquisition.get("SessionName", "—"))),
        ("Subject", str(acquisition.get("SubjectName", "—"))),
        ("Frames extracted", f"{n:,}"),
        ("Duration", f"{duration:.1f} s"),
        ("Valid frames (animal found)", f"{100 * valid.mean():.1f}%" if n else "—"),
        ("Dropped frames", f"{results.dropped_frame_count:,}"),
    ]
    if results.metadata.get("timestamps_source"):
        rows.append(("Frame times from", str(results.metadata["timestamps_source"])))
    for note in results.metadata.get("roi_notes") or ():
        rows.append(("Arena step", str(note)))
    if results.tracked_again is not None and n:
        rows.append(("Tracked again", _tracked_again_summary(results, valid)))
    rows.append(("Heading (nose end)", _heading_summary(results, valid, duration)))
    if results.flip_confidence is not None and n:
        confidence = np.asarray(results.flip_confidence[:], dtype=np.float64)
        low = int(low_confidence(confidence, valid).sum())
        known = confidence[valid & np.isfinite(confidence)]
        median = f"median {np.median(known):.3f}; " if known.size else ""
        share = f" ({100 * low / max(int(valid.sum()), 1):.1f}% of valid frames)"
        rows.append(
            ("Flip confidence", f"{median}{low:,} frames below {LOW_FLIP_CONFIDENCE:g}{share}")
        )
    if "true_depth" in results.metadata and "roi" in results.metadata:
        rows += [
            ("Floor (true) depth", f"{results.true_depth:.1f} mm"),
            ("Arena (ROI) area", f"{int(results.roi.sum()):,} pixels"),
        ]
    rows += [
        ("Camera", str(parameters.get("camera_type", "—"))),
        (
            "Height range",
            f"{parameters.get('min_height', '—')}–{parameters.get('max_height', '—')} mm",
        ),
        (
            "Extracted by",
            f"{results.metadata.get('software', 'depthextractors')} "
            f"{results.metadata.get('version', '?')}",
        ),
        ("Extraction uuid", str(results.uuid)),
    ]
    return rows


def _tracked_again_summary(results: ExtractionResults, valid: np.ndarray) -> str:
    """How many frames ``retrack_jumps`` tracked again, and the first of them."""
    again = np.flatnonzero(np.asarray(results.tracked_again[:], dtype=bool))
    if not again.size:
        return "no frame: every frame's largest object lay near where the frames round it put it"
    first = ", ".join(str(int(k)) for k in again[:5])
    return (
        f"{again.size:,} frames ({100 * again.size / max(int(valid.sum()), 1):.1f}% of valid "
        "frames), whose largest object lay far from where the frames round them put the "
        f"animal, were tracked again near there (first at frames {first}, counted from 0; all "
        "in metadata/extraction/tracked_again)"
    )


def _heading_summary(results: ExtractionResults, valid: np.ndarray, duration_s: float) -> str:
    """What the flip corrector did, in terms of the body axis a moseq2 user knows.

    ``flips`` marks frames turned by 180 degrees relative to the body axis's continuous
    (unwrapped) direction, whose end at the first frame is arbitrary: a session can be 0% or
    100% "flipped" and be right either way. What tells of the corrector's work is how often
    it changed which end of the axis is the nose.
    """
    if results.flips is None:
        return "no flip corrector ran: the heading is the body axis's direction, either end"
    flips = np.asarray(results.flips[:], dtype=bool)
    switches = int(np.count_nonzero(nose_switches(flips, valid)))
    flips = flips[valid]
    corrector = results.parameters.get("flip_corrector") or "the flip corrector"
    rate = f" ({60 * switches / duration_s:.1f} per minute)" if duration_s > 0 else ""
    share = 100 * flips.mean() if flips.size else 0.0
    return (
        f"chosen by {corrector}: the nose end switched {switches:,} times relative to the "
        f"body axis{rate}; {share:.1f}% of frames with the animal are turned 180° from the "
        "axis's first direction (which end that was is arbitrary)"
    )


# Below this share of frames with the animal, the report says so at the top.
_FEW_VALID = 0.5


def _warning(results: ExtractionResults) -> str | None:
    """What a reader must see first when the extraction mostly failed, or None."""
    valid = results.valid
    if valid.size == 0 or valid.mean() >= _FEW_VALID:
        return None
    parameters = results.parameters
    found = (
        "in no frame"
        if not valid.any()
        else f"in only {int(valid.sum()):,} of {valid.size:,} frames ({100 * valid.mean():.1f}%)"
    )
    return (
        f"The animal was found {found}. Check the height range (min_height "
        f"{parameters.get('min_height', '?')} mm, max_height {parameters.get('max_height', '?')}"
        " mm) against the animal, and the arena below: is the floor the orange region, is the "
        "camera looking down at it?"
    )


# An animal whose body is longer than this share of the crop's width in many frames does not fit.
_CROP_FILL = 0.95
# ... in more than this share of the frames with the animal.
_TOO_LONG_SHARE = 0.05


# The heading is uncertain in frames whose flip confidence is below this ...
_LOW_CONFIDENCE = 0.75
# ... and that is a caution when more than this share of the frames with the animal are.
_LOW_CONFIDENCE_SHARE = 0.05


# A region deeper than the background in many sampled frames is a caution from this share of
# the measured body's area (flickering reflections and noise make a few pixels).
_LEFT_BODY_SHARE = 0.5


# The tracked position moving further than the animal's median length between two frames at
# most this far apart (seconds) is a jump: at 30 frames/s a mouse would run 2-3 m/s ...
_JUMP_GAP_S = 0.1
# ... and jumps in more than this share of such pairs of frames, and at least _JUMP_COUNT of
# them, are a caution (one glitch in a short session is not).
_JUMP_SHARE = 0.02
_JUMP_COUNT = 3


def cautions(results: ExtractionResults) -> list[str]:
    """Conditions that put the extraction's accuracy at risk, one sentence each.

    The arena looked implausible (``roi_problems``), the frame times were made up from the
    frame rate (``timestamps_source``), the animal's body is longer than the crop in more
    than 5% of the frames with the animal (it is cut off: give a larger ``crop_size``), a
    tether or cable reached beyond the animal in at least 15% of the frames its size was
    measured on (``animal_size``), a region at least half the animal's size read deeper than
    the background in at least 10% of the frames sampled to measure it (the background holds
    the animal: use ``use_plane_bground``), the animal is hardly wider than the tail filter,
    the flip corrector was unsure of the heading (confidence below 0.75) in more than 5% of
    the frames with the animal, or the tracked position jumped by more than the animal's
    median length between consecutive frames (at most 0.1 s apart) in more than 2% of them
    and at least 3 times (the tracker lost the animal or followed something else, such as a
    reflection or an object larger than the animal, in those frames).

    Parameters
    ----------
    results : ExtractionResults
        The extraction.

    Returns
    -------
    list of str
        Empty when nothing is at risk.
    """
    found = []
    metadata = results.metadata
    problems = list(metadata.get("roi_problems") or ())
    if problems:
        found.append(
            f"The arena looks implausible: {'; '.join(problems)}. Check the arena picture below "
            "(roi_overlay) before using these results."
        )
    if metadata.get("timestamps_source") == "made up from the frame rate":
        found.append(
            "The recording had no usable frame times: they were made up from the frame rate, "
            "so dropped frames cannot be seen and speeds assume a steady rate."
        )
    crop = results.parameters.get("crop_size")
    body = _body_lengths(results)
    if crop is not None and body is not None:
        width = float(np.max(np.atleast_1d(crop)))
        too_long = float(np.mean(body > _CROP_FILL * width)) if body.size else 0.0
        if too_long > _TOO_LONG_SHARE:
            found.append(
                f"The animal is longer than the {int(width)}-pixel crop in {100 * too_long:.0f}% "
                f"of the frames with it (median length {np.median(body):.0f} px): its ends are "
                "cut off. Extract again with a larger crop_size."
            )
    found.extend(_animal_cautions(results))
    if body is not None and body.size:
        jumps = _jump_caution(results, float(np.median(body)))
        if jumps:
            found.append(jumps)
    return found


def _body_lengths(results: ExtractionResults) -> np.ndarray | None:
    """``length_px`` of the frames with the animal (finite only), or None without it."""
    lengths = results.scalars.get("length_px") if results.scalars else None
    if lengths is None or not len(results):
        return None
    body = np.asarray(lengths[:], dtype=np.float64)[results.valid]
    return body[np.isfinite(body)]


def _body_area(size: dict) -> float:
    """The measured body's area, pixels (the ellipse of its width and length)."""
    return math.pi / 4 * float(size.get("width_px", 0)) * float(size.get("length_px", 0))


def _jump_caution(results: ExtractionResults, length: float) -> str | None:
    """The caution when the tracked position moves further than ``length`` (the animal's
    median length, pixels) between consecutive frames in more than :data:`_JUMP_SHARE` of
    them and at least :data:`_JUMP_COUNT` times, or None."""
    if "centroid_x_px" not in results.scalars:
        return None
    valid = np.asarray(results.valid, dtype=bool)
    pairs = valid[1:] & valid[:-1]
    if results.timestamps.size == valid.size:
        pairs &= np.diff(results.timestamps) <= _JUMP_GAP_S
    if not pairs.any():
        return None
    x = np.asarray(results.scalars["centroid_x_px"][:], dtype=np.float64)
    y = np.asarray(results.scalars["centroid_y_px"][:], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        jumped = pairs & (np.hypot(np.diff(x), np.diff(y)) > length)
    count = int(jumped.sum())
    share = count / int(pairs.sum())
    if share <= _JUMP_SHARE or count < _JUMP_COUNT:
        return None
    first = ", ".join(str(int(k) + 1) for k in np.flatnonzero(jumped)[:5])
    # Results of before the parameter existed were not tracked again either.
    retracked = bool(results.parameters.get("retrack_jumps", False))
    remedy = (
        "use_tracking_model: true, whose tracker follows the animal from frame to frame,"
        if retracked
        else "retrack_jumps: true, which tracks such frames again near where the frames round "
        "them put the animal, or use_tracking_model: true,"
    )
    return (
        f"The animal's position jumps by more than its median length ({length:.0f} px) from "
        f"one frame to the next in {100 * share:.1f}% of the pairs of frames with it (first at "
        f"frames {first} of the results, counted from 0): the tracker most likely lost the "
        "animal there or followed something else larger than it (a reflection, an object, a "
        "hand; or the animal stayed still so long that the background holds it: see the "
        "background picture). Check those frames in the movie. Where it followed something "
        f"else, extracting again with {remedy} may avoid it."
    )


def _animal_cautions(results: ExtractionResults) -> list[str]:
    """The cautions from the animal's measured size and the flip corrector's confidence."""
    found = []
    size = results.metadata.get("animal_size") or {}
    share = float(size.get("tether_share", float("nan")))
    if share >= TETHER_SHARE:
        filtered = int(results.parameters.get("tether_filter_size") or 0)
        remedy = (
            f"the tether filter (tether_filter_size: {filtered}) removed the thin parts it "
            "found reaching out of the body"
            if filtered
            else "if it is, extract with animal: auto (its tether filter removes thin parts "
            "that reach out of the body)"
        )
        found.append(
            f"Something thin (a tether or cable) reaches well beyond the animal in "
            f"{100 * share:.0f}% of the frames its size was measured on: check in the crops "
            f"below that it is not counted as the animal; {remedy}."
        )
    left = size.get("left_background_px", 0)
    if left and left >= _LEFT_BODY_SHARE * _body_area(size):
        found.append(
            f"A region of {left:,} pixels of the arena reads deeper than the background in at "
            f"least {100 * LEFT_SHARE:.0f}% of the frames sampled to measure the animal: the "
            "background holds "
            "something that was often elsewhere, most likely the animal resting there through "
            "most of the recording, which then is invisible where it rests. Check the "
            "background picture below; extract again with use_plane_bground, which takes a "
            "plane fitted to the floor as the background."
        )
    tail = results.parameters.get("tail_filter_size")
    width = size.get("width_px")
    iterations = results.parameters.get("tail_filter_iters", 1)
    if tail is not None and width is not None and filter_may_erase(width, tail, iterations):
        found.append(
            f"The animal is about {width:.0f} pixels wide and the tail filter "
            f"{max(tail)} pixels: the filter may erase it. Extract again with animal: auto "
            "(or a smaller tail_filter_size)."
        )
    confidence = results.flip_confidence
    if confidence is not None and results.valid.any():
        values = np.asarray(confidence[:], dtype=np.float64)[results.valid]
        unsure = float(np.mean(values < _LOW_CONFIDENCE))
        if unsure > _LOW_CONFIDENCE_SHARE:
            found.append(
                f"The flip corrector was unsure of the heading (confidence below "
                f"{_LOW_CONFIDENCE}) in {100 * unsure:.0f}% of the frames with the animal: "
                "check the heading in the movie before relying on it."
            )
    return found


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1200px; color: #222; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; word-break: break-all; }
table.summary { border-collapse: collapse; margin: 12px 0 20px; }
table.summary td { padding: 4px 14px 4px 0; border-bottom: 1px solid #eee; vertical-align: top; }
table.summary td:first-child { color: #555; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 18px; }
figure { margin: 0; background: #fafafa; border: 1px solid #e4e4e4; border-radius: 6px;
         padding: 10px; }
figure.wide { grid-column: 1 / -1; }
figure svg { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: 0.92em; margin-top: 6px; }
figcaption .note { display: block; color: #777; font-size: 0.9em; margin-top: 2px; }
.warning { background: #fff4e5; border: 1px solid #f0b35a; border-radius: 6px; padding: 10px 14px;
           margin: 12px 0; }
details { margin-top: 20px; }
pre { background: #f4f4f4; padding: 10px; overflow-x: auto; font-size: 0.85em; }
"""

_WIDE = {"crops", "quality"}
_PLOTS = {"centroid_path", "speed", "height", "angle"}


def render_html(results: ExtractionResults, figures: list[ReportFigure]) -> str:
    """The report page, with every figure inline as SVG (pictures as base64 PNG inside).

    Parameters
    ----------
    results : ExtractionResults
        Gives the title, the summary table and the parameters.
    figures : list of ReportFigure
        The pictures, in page order (:func:`~depthextractors.io.report_figures.build_figures`).

    Returns
    -------
    str
        A self-contained HTML document.
    """
    import yaml

    acquisition = results.metadata.get("acquisition", {}) or {}
    title = f"Extraction report — {acquisition.get('SessionName', results.path or 'session')}"
    rows = "\n".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in _summary(results)
    )
    blocks = []
    for figure in figures:
        classes = " ".join(
            c for c, on in (("wide", figure.key in _WIDE), ("plot", figure.key in _PLOTS)) if on
        )
        note = f'<span class="note">{html.escape(figure.note)}</span>' if figure.note else ""
        blocks.append(
            f'<figure id="{figure.key}" class="{classes}">{figure.svg}'
            f"<figcaption>{html.escape(figure.caption)}{note}</figcaption></figure>"
        )
    parameters = yaml.safe_dump(
        {k: v for k, v in sorted(results.parameters.items())}, default_flow_style=None
    )
    made = _datetime.datetime.now(_datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    source = html.escape(str(results.path) if results.path else "in-memory results")
    warnings = [text for text in (_warning(results), *cautions(results)) if text]
    banner = "".join(f'<p class="warning">{html.escape(text)}</p>\n' for text in warnings)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        f'<h1>{html.escape(title)}</h1><p class="sub">{source} · made {made}</p>\n'
        f"{banner}"
        f'<table class="summary">{rows}</table>\n'
        f'<div class="grid">{"".join(blocks)}</div>\n'
        f"<details><summary>Extraction parameters</summary><pre>{html.escape(parameters)}</pre>"
        "</details>\n</body></html>\n"
    )


def write_report(
    results: ExtractionResults | str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    num_crops: int = 24,
) -> Path:
    """Write ``report.html`` and each figure as ``report/<key>.svg`` (pictures also as ``.png``).

    Parameters
    ----------
    results : ExtractionResults or path-like
        The extraction, or its ``results_00.h5`` / output directory.
    output_dir : path-like, optional
        Where to write; the directory of ``results_00.h5`` by default.
    num_crops : int, default 24
        Sample crops in the grid (evenly spread over the frames with the animal).

    Returns
    -------
    pathlib.Path
        The HTML page (each file is written under a name of its own and renamed, so it is
        never half there).

    Raises
    ------
    OutputWriteError
        If a file cannot be written (one line: the file, the error, the space needed and free
        when the disk is full).
    """
    if not isinstance(results, ExtractionResults):
        from .results_h5 import read_results

        results = read_results(results)
    if output_dir is None:
        if results.path is None:
            raise ValueError("in-memory results: pass output_dir")
        output_dir = Path(results.path).parent
    output_dir = Path(output_dir)
    image_dir = output_dir / "report"
    image_dir.mkdir(parents=True, exist_ok=True)
    figures = build_figures(results, num_crops=num_crops)
    for figure in figures:
        _write_whole(image_dir / f"{figure.key}.svg", figure.svg.encode("utf-8"))
        if figure.png is not None:
            _write_whole(image_dir / f"{figure.key}.png", figure.png)
    page = output_dir / "report.html"
    _write_whole(page, render_html(results, figures).encode("utf-8"))
    return page


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` under a name of its own, then rename: never a half-written file."""
    partial = partial_path(path)
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise output_error(error, path, f"{format_bytes(len(data))}") from None
