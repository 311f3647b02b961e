"""Benchmark: accuracy against ground truth across the variety labs record (issue 15).

Run as::

    python benchmarks/bench_accuracy.py [--n 200] [--frames 200] [--first-seed 0]
                                        [--workers 1] [--save per_session.json]
                                        [--rows all|auto] [--only FACTOR=LEVEL ...]
    python benchmarks/bench_accuracy.py --load per_session.json     # tables again, no extraction
    python benchmarks/bench_accuracy.py --load part1.json part2.json  # parts run apart, as one

1. Draws ``--n`` sessions with ``depthextractors.testing.draw_session(directory, seed)``
   (seeds ``--first-seed`` on): every camera preset, mice to rats, floors 0.5-1.1 m away and
   tilted, round and square arenas with vertical, sloped or reflective walls, objects,
   bedding, noise, invalid pixels and patches, flying pixels, half of them tethered (bare
   fibres to thick bundles, to the wall or a commutator, taut or slack, from the head or the
   back), hands, rearing, grooming and bending; writes each as a raw session of ``--frames``
   frames in a temporary directory.
2. Extracts it with the default settings (``SessionExtraction(open_depth_video(dir))``: the
   arena found by ``PlaneROI``, the strided median background, ``MomentsTracker``, the default
   filters and the motion flip corrector), then again with ``EMTracker()`` on the same arena,
   and with ``animal: auto`` (both trackers). Two references run on the true scene (the
   truth's arena mask and empty, noise-free background): the default settings, and
   ``animal: auto`` — the best moseq2-extract's centroid definition (the largest contour of
   the filtered mask above ``min_height``) can do on these frames, as nothing is left to the
   arena step or the background.
3. Compares every visible frame with the ground truth, for moseq2-extract's centroid
   (``centroid_x_px``, ``angle``) and, in the rows named "..., body centroid", for this
   project's body centroid and axis (``body_centroid_x_px``, ``body_angle``) of the same
   extraction: the centroid error (px) against the body's own centroid and against
   moseq2-extract's definition applied to a perfect frame (the contour polygon's;
   ``SyntheticGroundTruth.contour_centroid_px``), the body-axis error
   (degrees, modulo 180), and whether the heading is right (within 90 degrees). A frame in
   which the animal was not found counts as an infinite error.
4. Prints a table per randomised factor and level (sessions, frames, centroid median / p95,
   the worst decile of sessions' p95, body-axis median, heading right %, found %), for each
   tracker, then the tethered sessions side by side (EM against moments, per session) and the
   worst decile of all sessions with what they were, and the issue's bars met or missed.

A session of ``--frames`` frames is short beside a recording: the default background is the
median of 15 of its frames, and an animal that stays put through more than four fifths of them
stays in it (one that stays put through fewer is left out, ``bg_transient_height``), so a
session's figures can be worse than a long recording of the same scene would give.

Per-frame results are kept in memory; ``--save`` writes the per-session summaries (JSON) that
``--load`` prints again. ``--rows auto`` runs only the ``animal: auto`` extractions (both
trackers, on the arena found; their "..., body centroid" rows too): the rows the issue's bars
are read from, with the same figures, in three quarters of the time (200 sessions with
``--workers 2``: 451 s against 584 s on the 2-core machine; ``EMTracker`` takes most of it),
for trying a change out; README's figures come from ``--rows all``.

``--only tether=bundle`` (factor and level as the tables name them; several may be given)
keeps the seeds from ``--first-seed`` on whose drawn conditions match, until ``--n`` sessions:
a condition drawn in one session of six has about 33 sessions in 200, too few for a stable
p95 of its own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

TRACKERS = ("moments", "em")
#: The same two trackers with ``animal: auto``: the size-dependent settings follow the animal
#: measured on the session (``depthextractors.extraction.animal_size``).
AUTO = ("moments, animal auto", "em, animal auto")
#: The default tracker given the true scene (the ground truth's arena mask, and the empty scene
#: without noise as the background): the tracking alone, without the arena step's mistakes
#: or an animal that stood still long enough to be part of a short session's background.
TRUE_SCENE = "moments, true scene"
#: ``animal: auto`` given the true scene: the ceiling of moseq2-extract's centroid definition
#: (the largest contour of the filtered mask above ``min_height``) on the drawn frames, with
#: nothing left to the arena step or the background.
TRUE_SCENE_AUTO = "moments, animal auto, true scene"
#: Rows measuring this project's body centroid (``body_centroid_x_px``) instead of
#: moseq2-extract's contour centroid, from the same extraction: ``"<row>, body centroid"``.
BODY = ", body centroid"
#: The rows that get a body-centroid row beside them.
WITH_BODY = ("moments", "em", *AUTO, TRUE_SCENE_AUTO)
#: The figures each table shows, from a set of per-frame errors.
#: "p95 found": over the frames in which the animal was found (the others are infinite errors).
COLUMNS = ("sessions", "frames", "median", "p95", "p95 found", "worst10 p95", "contour median",
           "contour p95", "axis median", "heading right", "found")  # fmt: skip


def p95(values) -> float:
    """95th percentile without interpolating (frames not found count as infinite errors)."""
    return float(np.percentile(values, 95, method="higher"))


def build_tracker(name: str):
    """The tracker a name stands for, with its default settings."""
    from depthextractors import EMTracker, MomentsTracker

    return {"moments": MomentsTracker, "em": EMTracker}[name]()


def measure(results, truth, bbox, centroid: str = "centroid") -> dict[str, np.ndarray]:
    """Per visible frame: centroid errors (px) both ways, body-axis error (deg), heading.

    ``centroid`` names the scalars measured: ``"centroid"`` (moseq2-extract's
    ``centroid_x_px`` and ``angle``) or ``"body_centroid"`` (this project's
    ``body_centroid_x_px`` and ``body_angle``).
    """
    row0, _, col0, _ = bbox
    found = np.asarray(results.valid, dtype=bool)
    x = np.asarray(results.scalars[f"{centroid}_x_px"][:], dtype=np.float64) + col0
    y = np.asarray(results.scalars[f"{centroid}_y_px"][:], dtype=np.float64) + row0
    angle_name = "body_angle" if centroid == "body_centroid" else "angle"
    angle = np.asarray(results.scalars[angle_name][:], dtype=np.float64)
    visible = truth.visible
    error = np.hypot(x - truth.centroid_px[:, 0], y - truth.centroid_px[:, 1])
    contour = np.hypot(x - truth.contour_centroid_px[:, 0], y - truth.contour_centroid_px[:, 1])
    turn = angle - truth.heading
    axis = np.degrees(np.abs(np.angle(np.exp(2j * turn))) / 2)
    missing = ~found | ~np.isfinite(error)
    error[missing] = contour[missing] = axis[missing] = np.inf
    return {
        "error": error[visible],
        "contour": contour[visible],
        "axis": axis[visible],
        "heading": (np.cos(turn) > 0)[visible] & found[visible],
        "found": found[visible],
        "rearing": truth.rearing[visible],
        "grooming": truth.grooming[visible],
    }


def _measure_both(out: dict, name: str, results, truth, bbox) -> None:
    """A row for moseq2's centroid and, for WITH_BODY rows, one for the body centroid."""
    out["trackers"][name] = measure(results, truth, bbox)
    if name in WITH_BODY:
        out["trackers"][name + BODY] = measure(results, truth, bbox, "body_centroid")


def known_background_class():
    """A background strategy that returns a given image (the ground truth's empty scene)."""
    from depthextractors.extraction.background import BackgroundStrategy

    class KnownBackground(BackgroundStrategy):
        def __init__(self, image=None):
            self.image = image

        def compute(self, extractor):
            return np.asarray(self.image, dtype=np.float32)

    return KnownBackground


def run_session(seed: int, frames: int, workdir: str, rows: str = "all") -> dict:
    """Draw, write and extract one session; its conditions and per-frame measures (the
    ``animal: auto`` rows only with ``rows="auto"``)."""
    from depthextractors import ManualROI, SessionExtraction, open_depth_video
    from depthextractors.config import ExtractionConfig
    from depthextractors.io import InMemoryResultsWriter
    from depthextractors.testing import draw_session, draw_session_parameters

    KnownBackground = known_background_class()
    directory = Path(workdir) / f"session_{seed}"
    started = time.perf_counter()
    session = draw_session(directory, seed, frames)
    conditions = draw_session_parameters(seed).conditions()
    conditions["tethered"] = "no" if conditions["tether"] == "none" else "yes"
    out = {"seed": seed, "conditions": conditions, "trackers": {}}
    try:
        video = open_depth_video(session.directory)
        first = SessionExtraction(video)
        if rows == "auto":
            arena = first.find_roi()
        else:
            results = first.run(InMemoryResultsWriter(), progress=False, n_jobs=1)
            arena = first.arena
        truth_mask = session.truth.arena_mask
        out["arena_iou"] = float(
            (arena.roi.mask & truth_mask).sum() / (arena.roi.mask | truth_mask).sum()
        )
        if rows == "auto":
            _measure_auto(out, video, arena, session.truth)
            return out
        _measure_both(out, "moments", results, session.truth, arena.roi.bbox)
        roi = ManualROI(arena.roi.mask, true_depth=arena.roi.true_depth)
        for name in TRACKERS[1:]:
            extraction = SessionExtraction(video, roi=roi, tracker=build_tracker(name))
            results = extraction.run(InMemoryResultsWriter(), progress=False, n_jobs=1)
            _measure_both(out, name, results, session.truth, arena.roi.bbox)
        truth = session.truth
        extraction = SessionExtraction(
            video,
            roi=ManualROI(truth_mask, true_depth=truth.true_depth_mm),
            background=KnownBackground(truth.background_depth_mm),
        )
        results = extraction.run(InMemoryResultsWriter(), progress=False, n_jobs=1)
        out["trackers"][TRUE_SCENE] = measure(results, truth, extraction.arena.roi.bbox)
        changes = _measure_auto(out, video, arena, session.truth)
        extraction = ExtractionConfig(**changes).build_extraction(video)
        extraction.roi = ManualROI(truth_mask, true_depth=truth.true_depth_mm)
        extraction.background = KnownBackground(truth.background_depth_mm)
        results = extraction.run(InMemoryResultsWriter(), progress=False, n_jobs=1)
        _measure_both(out, TRUE_SCENE_AUTO, results, truth, extraction.arena.roi.bbox)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        out["seconds"] = time.perf_counter() - started
    return out


def _measure_auto(out: dict, video, arena, truth) -> dict:
    """The ``animal: auto`` rows (both trackers on ``arena``); the settings it changed."""
    from depthextractors.config import ExtractionConfig
    from depthextractors.extraction.animal_size import size_changes
    from depthextractors.io import InMemoryResultsWriter
    from depthextractors.io.report import cautions

    changes = {} if arena.animal is None else size_changes(ExtractionConfig(), arena.animal)
    out["sized"] = {key: np.ravel(value).tolist() for key, value in changes.items()}
    for name, em in zip(AUTO, (False, True), strict=True):
        extraction = ExtractionConfig(**changes, use_tracking_model=em).build_extraction(video)
        extraction.arena = arena
        results = extraction.run(InMemoryResultsWriter(), progress=False, n_jobs=1)
        _measure_both(out, name, results, truth, arena.roi.bbox)
        if not em:
            out["cautions"] = [caution_kind(text) for text in cautions(results)]
    return changes


# What each of the report's cautions is about, told by words only it has (the first match).
CAUTION_KINDS = (
    ("arena looks implausible", "arena"),
    ("frame times", "frame times"),
    ("position jumps", "jumps"),
    ("deeper than the background", "background"),
    ("tether", "tether"),
    ("crop", "crop"),
    ("tail filter", "tail filter"),
    ("unsure of the heading", "heading"),
)


def caution_kind(text: str) -> str:
    """A short name for one of the report's cautions."""
    return next((kind for words, kind in CAUTION_KINDS if words in text), text[:40])


# ------------------------------------------------------------------------------ tables
def summary(sessions: list[dict], tracker: str, frames_of: str | None = None) -> dict:
    """The COLUMNS of one group of sessions (frames of one kind only, with ``frames_of``)."""
    errors, contours, axes, headings, found, per_session = [], [], [], [], [], []
    for item in sessions:
        m = item["trackers"][tracker]
        keep = np.ones(len(m["error"]), dtype=bool) if frames_of is None else np.asarray(
            m[frames_of], dtype=bool
        )  # fmt: skip
        if not keep.any():
            continue
        errors.append(np.asarray(m["error"])[keep])
        contours.append(np.asarray(m["contour"])[keep])
        axes.append(np.asarray(m["axis"])[keep])
        headings.append(np.asarray(m["heading"])[keep])
        found.append(np.asarray(m["found"])[keep])
        per_session.append(p95(errors[-1]))
    if not errors:
        return {}
    error, contour, axis = (np.concatenate(v) for v in (errors, contours, axes))
    worst = np.sort(per_session)[-max(1, math.ceil(len(per_session) / 10)) :]
    return {
        "sessions": len(per_session),
        "frames": error.size,
        "median": np.median(error),
        "p95": p95(error),
        "p95 found": p95(error[np.isfinite(error)]) if np.isfinite(error).any() else np.inf,
        "worst10 p95": np.median(worst),
        "contour median": np.median(contour),
        "contour p95": p95(contour),
        "axis median": np.median(axis),
        "heading right": 100 * np.concatenate(headings).mean(),
        "found": 100 * np.concatenate(found).mean(),
    }


def _cell(name: str, value) -> str:
    if name in ("sessions", "frames"):
        return str(value)
    if name in ("heading right", "found"):
        return f"{value:.2f}%"
    if name == "axis median":
        return f"{value:.2f} deg"
    return "inf" if not np.isfinite(value) else f"{value:.2f}"


def print_tables(sessions: list[dict], trackers: tuple[str, ...]) -> None:
    """A table per factor: one row per level and tracker."""
    header = ["factor", "level", "tracker", *COLUMNS]
    rows = []
    for tracker in trackers:
        rows.append(["all", "all", tracker, *_cells(summary(sessions, tracker))])
        for kind in ("rearing", "grooming"):
            rows.append(
                [f"{kind} frames", "yes", tracker, *_cells(summary(sessions, tracker, kind))]
            )
    factors = sessions[0]["conditions"].keys()
    for factor in factors:
        by_level = defaultdict(list)
        for item in sessions:
            by_level[item["conditions"][factor]].append(item)
        for level in sorted(by_level):
            for tracker in trackers:
                rows.append([factor, level, tracker, *_cells(summary(by_level[level], tracker))])
    _print_rows(header, rows)


def _cells(values: dict) -> list[str]:
    return [_cell(name, values[name]) if values else "-" for name in COLUMNS]


def _print_rows(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def print_tethered(sessions: list[dict], pair: tuple[str, str] = TRACKERS) -> None:
    """Per tethered session: moments and EM side by side (median, p95, EM minus moments)."""
    tethered = [s for s in sessions if s["conditions"]["tethered"] == "yes"]
    if not tethered or pair[1] not in tethered[0]["trackers"]:
        return
    moments, em = pair
    header = ["seed", "tether", "route", "slack", "attached", "animal", "moments median",
              "moments p95", "em median", "em p95", "em - moments"]  # fmt: skip
    rows, worse = [], []
    for item in tethered:
        c, m = item["conditions"], item["trackers"]
        med = {t: float(np.median(m[t]["error"])) for t in pair}
        high = {t: p95(m[t]["error"]) for t in pair}
        worse.append(med[em] - med[moments])
        rows.append([
            item["seed"], c["tether"], c["tether route"], c["tether slack"],
            c["tether attachment"], c["animal"], *(_cell("median", v) for v in (
                med[moments], high[moments], med[em], high[em])),
            "-" if not np.isfinite(worse[-1]) else f"{worse[-1]:+.3f}",
        ])  # fmt: skip
    print(f"\ntethered sessions, {em} against {moments} (centroid error, px):")
    _print_rows(header, rows)
    worse = np.asarray(worse)
    finite = worse[np.isfinite(worse)]
    print(
        f"{len(tethered)} tethered sessions; EM median minus moments median per session: "
        f"median {np.median(finite):+.3f} px, worst {finite.max():+.3f} px; "
        f"{int((finite > 0.1).sum())} sessions worse by more than 0.1 px, "
        f"{int((~np.isfinite(worse)).sum())} with frames one tracker did not find"
    )


def print_bars(sessions: list[dict], tracker: str = "moments", em_tracker: str = "em") -> None:
    """The issue's bars, met or missed, with the measured figures (EM's on the default arena)."""
    overall = summary(sessions, tracker)
    lines = [
        ("centroid median <= 0.3 px", overall["median"], overall["median"] <= 0.3),
        ("centroid p95 <= 1 px", overall["p95"], overall["p95"] <= 1.0),
        ("body-axis median <= 0.5 deg", overall["axis median"], overall["axis median"] <= 0.5),
        ("heading right >= 99%", overall["heading right"], overall["heading right"] >= 99.0),
    ]
    failing = []
    for factor in sessions[0]["conditions"]:
        for level in sorted({s["conditions"][factor] for s in sessions}):
            group = [s for s in sessions if s["conditions"][factor] == level]
            figures = summary(group, tracker)
            if not (figures["median"] <= 0.3 and figures["p95"] <= 1.0):
                failing.append(f"{factor}={level} ({figures['median']:.2f}/{figures['p95']:.2f})")
    tethered = [s for s in sessions if s["conditions"]["tethered"] == "yes"]
    if tethered and em_tracker in tethered[0]["trackers"]:
        em = summary(tethered, em_tracker)
        lines.append(("tethered EM median <= 0.5 px", em["median"], em["median"] <= 0.5))
        lines.append(("tethered EM p95 <= 1.5 px", em["p95"], em["p95"] <= 1.5))
        worse = [
            np.median(s["trackers"][em_tracker]["error"])
            - np.median(s["trackers"][tracker]["error"])
            for s in tethered
        ]
        finite = [w for w in worse if np.isfinite(w)]
        worst = max(finite) if finite else float("nan")
        lines.append(("EM never worse than moments by > 0.1 px (worst)", worst, worst <= 0.1))
    print(f"\nissue 15 bars, {tracker} (figures as measured):")
    for name, value, met in lines:
        print(f"  {'met   ' if met else 'MISSED'}  {name}: {value:.3f}")
    print(
        f"  {'met   ' if not failing else 'MISSED'}  median <= 0.3 and p95 <= 1 px in every "
        f"condition: {len(failing)} levels miss it"
        + ("" if not failing else ": " + "; ".join(failing))
    )


def print_worst(sessions: list[dict], tracker: str) -> None:
    """The worst decile of sessions (by centroid p95) and what they were."""
    ranked = sorted(sessions, key=lambda s: -p95(s["trackers"][tracker]["error"]))
    decile = max(1, math.ceil(len(sessions) / 10))
    print(f"\nworst decile of sessions for {tracker} (by centroid p95):")
    for item in ranked[:decile]:
        m = item["trackers"][tracker]
        c = item["conditions"]
        print(
            f"  seed {item['seed']}: median {np.median(m['error']):.2f}, p95 "
            f"{p95(m['error']):.2f} px, found {100 * np.mean(m['found']):.0f}%, "
            f"arena IoU {item.get('arena_iou', float('nan')):.3f}; "
            + ", ".join(f"{k}={v}" for k, v in c.items())
            + f"; report cautions: {', '.join(item.get('cautions', [])) or 'none'}"
        )
    if all("cautions" in item for item in sessions):
        counts = [
            f"{kind} {sum(kind in item['cautions'] for item in ranked[:decile])}/"
            f"{sum(kind in item['cautions'] for item in ranked[decile:])}"
            for kind in dict.fromkeys(kind for _, kind in CAUTION_KINDS)
        ]
        print(
            f"sessions whose report gives each caution (the {AUTO[0]} run), in the worst "
            f"decile's {decile} / the other {len(ranked) - decile}: " + ", ".join(counts)
        )


def _plain(item: dict) -> dict:
    def convert(value):
        if isinstance(value, np.ndarray):
            return (
                [None if not np.isfinite(v) else v for v in value.tolist()]
                if value.dtype.kind == "f"
                else value.tolist()
            )
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, np.generic):
            return value.item()
        return value

    return convert(item)


def _numpy(item: dict) -> dict:
    for measures in item["trackers"].values():
        for key, value in measures.items():
            measures[key] = np.array([np.inf if v is None else v for v in value])
    return item


def _condition(text: str) -> tuple[str, str]:
    """``"FACTOR=LEVEL"`` as ``(factor, level)``, the factor checked against the drawn ones."""
    from depthextractors.testing import draw_session_parameters

    factor, equals, level = text.partition("=")
    factors = draw_session_parameters(0).conditions()
    if not equals or factor not in factors:
        raise ValueError(
            f"--only takes FACTOR=LEVEL with a factor the tables name ({', '.join(factors)}); "
            f"got {text!r}"
        )
    return factor, level


def drawn_seeds(first: int, count: int, only: dict[str, str]) -> list[int]:
    """The first ``count`` seeds from ``first`` on whose drawn conditions hold ``only``'s
    levels (every seed when ``only`` is empty)."""
    from depthextractors.testing import draw_session_parameters

    seeds: list[int] = []
    seed = first
    # A level no seed draws (a misspelt one) would never end the search: every level is drawn
    # in more than one session of 50 (about 9 ms a draw).
    last = first + 50 * count + 1000
    while len(seeds) < count and seed < last:
        conditions = draw_session_parameters(seed).conditions()
        if all(conditions.get(factor) == level for factor, level in only.items()):
            seeds.append(seed)
        seed += 1
    if len(seeds) < count:
        raise SystemExit(
            f"--only {' '.join(f'{k}={v}' for k, v in only.items())}: {len(seeds)} of the seeds "
            f"{first}-{last - 1} draw it, where --n asks for {count}; check the level's "
            "spelling in the tables (python benchmarks/bench_accuracy.py --n 10)"
        )
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n",
        "--sessions",
        dest="sessions",
        type=int,
        default=200,
        help="sessions drawn (default 200)",
    )
    parser.add_argument("--frames", type=int, default=200, help="frames per session")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--save", type=Path)
    parser.add_argument(
        "--rows",
        choices=("all", "auto"),
        default="all",
        help="'auto': only the animal: auto extractions (default: all rows)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        default=(),
        metavar="FACTOR=LEVEL",
        help="draw only sessions of these conditions, e.g. 'tether=bundle' 'animal=rat'",
    )
    parser.add_argument(
        "--load", type=Path, nargs="+", help="JSON files --save wrote (parts of one run)"
    )
    args = parser.parse_args(argv)
    try:
        only = dict(_condition(text) for text in args.only)
    except ValueError as error:
        parser.error(str(error))
    from depthextractors._version import __version__
    from depthextractors.testing import GENERATOR_VERSION

    if args.load:
        sessions = [_numpy(s) for path in args.load for s in json.loads(path.read_text())]
    else:
        seeds = drawn_seeds(args.first_seed, args.sessions, only)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:
            if args.workers > 1:
                with ProcessPoolExecutor(args.workers) as pool:
                    futures = [
                        pool.submit(run_session, s, args.frames, workdir, args.rows) for s in seeds
                    ]
                    sessions = [f.result() for f in futures]
            else:
                sessions = []
                for seed in seeds:
                    sessions.append(run_session(seed, args.frames, workdir, args.rows))
                    print(f"seed {seed}: {sessions[-1]['seconds']:.1f} s", file=sys.stderr)
        print(f"{len(sessions)} sessions in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if args.save:
            args.save.write_text(json.dumps([_plain(s) for s in sessions]))
    shortest = min(len(m["error"]) for m in sessions[0]["trackers"].values())
    print(
        f"depthextractors {__version__}, generator version {GENERATOR_VERSION}, "
        f"{len(sessions)} sessions of {shortest}+ "
        "frames, default settings (EM: EMTracker() on the same arena); errors in px against the "
        "body's centroid ('contour': against moseq2's definition on a perfect frame)\n"
    )
    order = (*TRACKERS, TRUE_SCENE, *AUTO, TRUE_SCENE_AUTO)
    order = tuple(row for name in order for row in (name, name + BODY))
    present = tuple(t for t in order if t in sessions[0]["trackers"])
    print_tables(sessions, present)
    print_tethered(sessions)
    print_tethered(sessions, AUTO)
    for tracker in present:
        print_worst(sessions, tracker)
    for tracker, em in (("moments", "em"), (TRUE_SCENE, None), AUTO, (TRUE_SCENE_AUTO, None)):
        if tracker in sessions[0]["trackers"]:
            print_bars(sessions, tracker, em)
    for tracker, em in (("moments", "em"), AUTO, (TRUE_SCENE_AUTO, None)):
        if tracker + BODY in sessions[0]["trackers"]:
            print_bars(sessions, tracker + BODY, None if em is None else em + BODY)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
