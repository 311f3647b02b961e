"""Compare two extractions of one recording: :func:`compare_results`.

Two ``results_00.h5`` files of the same session — this project's, moseq2-extract's, any
versions — are compared where they can be: the arena (intersection over union), every scalar
the two share (median and 95th percentile of the absolute difference over the frames both found
the animal in, and the medians' relative difference), the crops (median per-frame correlation,
each of the second's frames turned 180 degrees where the two headings disagree), the headings
(how often they point the same way), frames found, dropped frames, and the parameters that
differ. ``depthextractors compare A B`` prints it as a table and draws one figure; labs use it
to check a switch of tool or version on their own data.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..extraction.crop import turn_round
from .results import ExtractionResults

__all__ = ["ResultsComparison", "ScalarDifference", "compare_results"]

# Frames whose crops are correlated: evenly spaced, enough for a stable median.
_CORRELATED_FRAMES = 2000
# Read the crops this many frames at a time (bounded memory on long sessions).
_BLOCK = 200
# Angles: compared modulo a full turn (moseq2-extract unwraps the angle afresh in every chunk of
# chunk_size frames, so its values can differ from another tool's by whole turns).
_ANGLES = ("angle", "velocity_theta")


@dataclass
class ScalarDifference:
    """How one scalar differs between the two results.

    Attributes
    ----------
    name : str
        The scalar.
    median_a, median_b : float
        Medians over the frames both found the animal in.
    median_abs_difference, p95_abs_difference : float
        Of ``b - a`` per frame, in the scalar's unit (angles: modulo a full turn).
    relative_median_difference : float
        ``(median_b - median_a) / |median_a|`` (NaN when ``median_a`` is 0, and for angles,
        whose medians depend on where they are unwrapped).
    """

    name: str
    median_a: float
    median_b: float
    median_abs_difference: float
    p95_abs_difference: float
    relative_median_difference: float


@dataclass
class ResultsComparison:
    """What :func:`compare_results` found.

    Attributes
    ----------
    a, b : str
        The two results (paths or descriptions), as given.
    software : (str, str)
        The software and version that made each.
    frames : (int, int)
        Frames in each.
    frames_compared : int
        Frames both hold (the shorter length; the frame ranges must match).
    found : (float, float)
        Fraction of frames with the animal in each.
    arena_iou : float
        Intersection over union of the two arenas.
    true_depth : (float, float)
        Floor depth of each, mm.
    scalars : list of ScalarDifference
        Every scalar the two share (angles compared modulo a full turn).
    frame_correlation : float
        Median per-frame correlation of the crops (NaN when no frame is comparable).
    heading_agreement : float
        Fraction of frames found in both whose headings point the same way (within 90
        degrees).
    dropped_frames : (int or None, int or None)
        Dropped frames each recorded (moseq2-extract records none: ``None``).
    parameters : dict
        Parameters recorded by both with different values: name to ``(a, b)``.
    """

    a: str
    b: str
    software: tuple[str, str]
    frames: tuple[int, int]
    frames_compared: int
    found: tuple[float, float]
    arena_iou: float
    true_depth: tuple[float, float]
    scalars: list[ScalarDifference] = field(default_factory=list)
    frame_correlation: float = float("nan")
    heading_agreement: float = float("nan")
    dropped_frames: tuple[int | None, int | None] = (None, None)
    parameters: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def scalar(self, name: str) -> ScalarDifference:
        """The difference of one scalar.

        Raises
        ------
        KeyError
            If the two do not share it.
        """
        for difference in self.scalars:
            if difference.name == name:
                return difference
        raise KeyError(f"the two results do not share the scalar {name!r}")

    def format_table(self) -> str:
        """The comparison as plain text (a summary, then one line per scalar)."""
        lines = [
            f"A: {self.a}  ({self.software[0]})",
            f"B: {self.b}  ({self.software[1]})",
            f"frames                 {self.frames[0]} / {self.frames[1]}"
            f" ({self.frames_compared} compared)",
            f"animal found           {100 * self.found[0]:.1f}% / {100 * self.found[1]:.1f}%",
            f"arena IoU              {self.arena_iou:.4f}",
            f"true depth             {self.true_depth[0]:.1f} / {self.true_depth[1]:.1f} mm",
            f"frame correlation      {self.frame_correlation:.3f} (median, B turned where the"
            " headings disagree)",
            f"heading agreement      {100 * self.heading_agreement:.1f}% of frames",
            f"dropped frames         {_or_none(self.dropped_frames[0])} / "
            f"{_or_none(self.dropped_frames[1])}",
            "",
            f"{'scalar':<22}{'median A':>12}{'median B':>12}{'|B-A| median':>14}"
            f"{'|B-A| p95':>12}{'B/A - 1':>10}",
        ]
        for d in self.scalars:
            lines.append(
                f"{d.name:<22}{d.median_a:>12.4g}{d.median_b:>12.4g}"
                f"{d.median_abs_difference:>14.4g}{d.p95_abs_difference:>12.4g}"
                f"{_percent(d.relative_median_difference):>10}"
            )
        if self.parameters:
            lines += ["", "parameters that differ (A / B):"]
            for name, (first, second) in sorted(self.parameters.items()):
                lines.append(f"  {name}: {first!r} / {second!r}")
        return "\n".join(lines)

    def figure(self, path: str | os.PathLike, a: ExtractionResults, b: ExtractionResults) -> Path:
        """One PNG: arenas overlaid, centroid paths, and the scalars' relative differences.

        Parameters
        ----------
        path : path-like
            The PNG to write.
        a, b : ExtractionResults
            The results compared (for the arenas and paths).

        Returns
        -------
        pathlib.Path
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(12, 4), layout="constrained")
        FigureCanvasAgg(figure)
        arenas, paths, bars = figure.subplots(1, 3)
        roi_a, roi_b = np.asarray(a.roi, bool), np.asarray(b.roi, bool)
        overlay = np.zeros((*roi_a.shape, 3))
        overlay[..., 0], overlay[..., 2] = roi_a, roi_b
        overlay[roi_a & roi_b] = 0.85
        arenas.imshow(overlay)
        arenas.set_title(f"arenas (A red, B blue): IoU {self.arena_iou:.3f}")
        arenas.set_axis_off()
        n = self.frames_compared
        for results, label in ((a, "A"), (b, "B")):
            x = np.asarray(results.scalars["centroid_x_px"][:n], dtype=float)
            y = np.asarray(results.scalars["centroid_y_px"][:n], dtype=float)
            paths.plot(x, y, lw=0.6, label=label)
        paths.invert_yaxis()
        paths.set_aspect("equal")
        paths.set_title("centroid (px, ROI box)")
        paths.legend()
        shown = [d for d in self.scalars if math.isfinite(d.relative_median_difference)]
        names = [d.name for d in shown]
        values = [100 * d.relative_median_difference for d in shown]
        bars.barh(names, np.nan_to_num(values), color="#1f77b4")
        bars.axvline(0, color="black", lw=0.8)
        bars.set_xlabel("median B / median A - 1 (%)")
        bars.tick_params(axis="y", labelsize=7)
        path = Path(path)
        figure.savefig(path, dpi=100)
        return path


def compare_results(a: ExtractionResults, b: ExtractionResults) -> ResultsComparison:
    """Compare two extractions of the same recording.

    Parameters
    ----------
    a, b : ExtractionResults
        E.g. ``read_results("proc_moseq2")`` and ``read_results("proc")``. Frames are compared
        one to one, so both must start at the same frame of the recording.

    Returns
    -------
    ResultsComparison

    Raises
    ------
    ValueError
        If the two start at different frames of the recording, or their arenas have different
        shapes (different recordings).
    """
    first = (int(a.metadata.get("first_frame_idx", 0)), int(b.metadata.get("first_frame_idx", 0)))
    if first[0] != first[1]:
        raise ValueError(
            f"the results start at different frames of the recording ({first[0]} and "
            f"{first[1]}); extract both with the same frame_trim and num_frames"
        )
    roi_a, roi_b = np.asarray(a.roi, bool), np.asarray(b.roi, bool)
    if roi_a.shape != roi_b.shape:
        raise ValueError(
            f"the arenas are {roi_a.shape} and {roi_b.shape} pixels: these are not extractions of "
            "one recording"
        )
    n = min(len(a), len(b))
    valid_a, valid_b = a.valid[:n], b.valid[:n]
    both = valid_a & valid_b
    union = np.count_nonzero(roi_a | roi_b)
    comparison = ResultsComparison(
        a=_describe(a),
        b=_describe(b),
        software=(_software(a), _software(b)),
        frames=(len(a), len(b)),
        frames_compared=n,
        found=(float(valid_a.mean()) if n else 0.0, float(valid_b.mean()) if n else 0.0),
        arena_iou=float(np.count_nonzero(roi_a & roi_b) / union) if union else float("nan"),
        true_depth=(a.true_depth, b.true_depth),
        dropped_frames=(_dropped(a), _dropped(b)),
        parameters=_parameter_differences(a.parameters, b.parameters),
    )
    comparison.scalars = [
        _scalar_difference(name, a, b, n, both)
        for name in a.scalars
        if name in b.scalars and name != "valid"
    ]
    turned = _turned(a, b, n, both)
    if both.any():
        comparison.heading_agreement = float(1.0 - turned[both].mean())
        comparison.frame_correlation = _frame_correlation(a, b, both, turned)
    return comparison


def _describe(results: ExtractionResults) -> str:
    return str(results.path) if results.path is not None else repr(results)


def _software(results: ExtractionResults) -> str:
    return f"{results.metadata.get('software', 'unknown')} {results.metadata.get('version', '')}"


def _dropped(results: ExtractionResults) -> int | None:
    if "dropped_frame_count" in results.metadata:
        return int(results.metadata["dropped_frame_count"])
    return None


def _scalar_difference(
    name: str, a: ExtractionResults, b: ExtractionResults, n: int, both: np.ndarray
) -> ScalarDifference:
    first = np.asarray(a.scalars[name][:n], dtype=np.float64)[both]
    second = np.asarray(b.scalars[name][:n], dtype=np.float64)[both]
    difference = np.abs(second - first)
    if name in _ANGLES:
        difference = np.abs(np.angle(np.exp(1j * (second - first))))
    finite = np.isfinite(difference)
    median_a = _nan_median(first)
    median_b = _nan_median(second)
    relative = float("nan")
    if median_a and name not in _ANGLES:
        relative = (median_b - median_a) / abs(median_a)
    return ScalarDifference(
        name=name,
        median_a=median_a,
        median_b=median_b,
        median_abs_difference=float(np.median(difference[finite])) if finite.any() else math.nan,
        p95_abs_difference=(
            float(np.percentile(difference[finite], 95)) if finite.any() else math.nan
        ),
        relative_median_difference=float(relative),
    )


def _nan_median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def _turned(a: ExtractionResults, b: ExtractionResults, n: int, both: np.ndarray) -> np.ndarray:
    """Frames whose headings point more than 90 degrees apart (B's crop is turned round)."""
    angle_a = np.asarray(a.scalars["angle"][:n], dtype=np.float64)
    angle_b = np.asarray(b.scalars["angle"][:n], dtype=np.float64)
    delta = np.angle(np.exp(1j * (angle_b - angle_a)))
    return both & (np.abs(delta) > np.pi / 2)


def _frame_correlation(
    a: ExtractionResults, b: ExtractionResults, both: np.ndarray, turned: np.ndarray
) -> float:
    if a.frames is None or b.frames is None:
        return float("nan")  # scalars-only results (an NWB file without frames)
    indices = np.flatnonzero(both)
    if indices.size > _CORRELATED_FRAMES:
        indices = indices[np.linspace(0, indices.size - 1, _CORRELATED_FRAMES).astype(int)]
    correlations = []
    for start in range(0, indices.size, _BLOCK):
        picked = indices[start : start + _BLOCK]
        frames_a = np.asarray(a.frames[picked], dtype=np.float64)
        frames_b = np.asarray(b.frames[picked], dtype=np.float64)
        if frames_a.shape[1:] != frames_b.shape[1:]:
            return float("nan")  # crops of different sizes
        for first, second, index in zip(frames_a, frames_b, picked, strict=True):
            if turned[index]:
                # Turned about the centroid's pixel, as the flips turn crops.
                second = turn_round(second[None])[0]
            if first.std() > 0 and second.std() > 0:
                correlations.append(np.corrcoef(first.ravel(), second.ravel())[0, 1])
    return float(np.median(correlations)) if correlations else float("nan")


def _parameter_differences(first: dict, second: dict) -> dict[str, tuple[Any, Any]]:
    differences = {}
    for name in sorted(set(first) & set(second)):
        if _plain(first[name]) != _plain(second[name]):
            differences[name] = (first[name], second[name])
    return differences


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [_plain(v) for v in np.asarray(value, dtype=object).ravel().tolist()]
        return items[0] if len(items) == 1 else items
    if isinstance(value, (np.generic, float, int)) and not isinstance(value, bool):
        return float(value)
    return value


def _or_none(value: int | None) -> str:
    return "not recorded" if value is None else str(value)


def _percent(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{100 * value:+.1f}%"
