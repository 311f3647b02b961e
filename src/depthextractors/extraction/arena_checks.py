"""Is the arena found plausible? Checks of an arena mask's place and size in the frame.

The camera of a MoSeq rig looks down at the arena: the arena lies inside the frame, near its
centre, with room around it. An arena mask that touches the frame border, covers most of the
frame or lies off centre is more likely the room's floor, a table top or a shelf at the floor's
depth than the arena (moseq2-extract takes the whole room floor for the arena on a real box
standing on a floor of the same depth). :func:`arena_problems` names what is wrong;
:class:`~depthextractors.extraction.PlaneROI` retries with the gradient filter, then at the
other flat depths of the background (a raised arena inside a room floor), and warns with
:class:`ArenaWarning`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .filters import label_regions

if TYPE_CHECKING:
    from .arena import ArenaROI

__all__ = [
    "MOST_OF_FRAME",
    "OFF_CENTRE",
    "ArenaWarning",
    "arena_problems",
    "retry_at_other_floors",
    "retry_with_gradient_filter",
    "sloped_wall_note",
    "warn_if_implausible",
]

logger = logging.getLogger(__name__)

#: An arena covering more than this fraction of the frame covers most of it: the largest arenas
#: labs film fill about two thirds of the frame (the project's own synthetic arenas 61-66%), a
#: room floor taken for the arena fills 75-90% (moseq2-extract's real ``chamber``).
MOST_OF_FRAME = 0.75
#: An arena whose centre lies farther from the image centre than this fraction of the frame's
#: width (or height) is off centre: its centre lies outside the middle half of the frame.
OFF_CENTRE = 0.25


class ArenaWarning(UserWarning):
    """The arena found looks implausible, or was found by a retry: check ``roi.tiff``."""


def arena_problems(mask: np.ndarray) -> tuple[str, ...]:
    """What makes an arena mask implausible; empty when nothing does.

    Parameters
    ----------
    mask : numpy.ndarray, shape (rows, cols), bool
        The arena.

    Returns
    -------
    tuple of str
        One phrase per problem, in this order: the mask touches the frame border; it covers
        more than :data:`MOST_OF_FRAME` of the frame; its centroid lies more than
        :data:`OFF_CENTRE` of the frame's width or height from the image centre. An empty
        mask is one problem ("it is empty").
    """
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    area = int(np.count_nonzero(mask))
    if area == 0:
        return ("it is empty",)
    problems = []
    edges = {
        "top": mask[0].any(),
        "bottom": mask[-1].any(),
        "left": mask[:, 0].any(),
        "right": mask[:, -1].any(),
    }
    touched = [name for name, hit in edges.items() if hit]
    if touched:
        problems.append(f"it touches the frame border ({', '.join(touched)})")
    fraction = area / mask.size
    if fraction > MOST_OF_FRAME:
        problems.append(f"it covers {fraction:.0%} of the frame ({area:,} of {mask.size:,} px)")
    ys, xs = np.nonzero(mask)
    off_x = (xs.mean() - cols / 2.0) / cols
    off_y = (ys.mean() - rows / 2.0) / rows
    if max(abs(off_x), abs(off_y)) > OFF_CENTRE:
        problems.append(
            f"its centre (x {xs.mean():.0f}, y {ys.mean():.0f} px) lies outside the middle half "
            f"of the {cols}x{rows} frame"
        )
    return tuple(problems)


def warn_if_implausible(arena: ArenaROI) -> None:
    """Warn (:class:`ArenaWarning`) when the arena has problems, naming them and what to do."""
    if arena.problems:
        warnings.warn(
            f"the arena found looks implausible: {'; '.join(arena.problems)}. Check roi.tiff; "
            "give the floor's depth range (bg_roi_depth_range), the gradient filter "
            "(bg_roi_gradient_filter: true) or another region (bg_roi_index); from Python, "
            "ManualROI takes a mask of the arena",
            ArenaWarning,
            stacklevel=3,
        )


def retry_with_gradient_filter(first: ArenaROI, find_again: Callable[[], ArenaROI]) -> ArenaROI:
    """The arena ``find_again`` finds (with the gradient filter) if plausible, else ``first``.

    Parameters
    ----------
    first : ArenaROI
        The implausible arena found without the gradient filter.
    find_again : callable
        Finds the arena with the gradient filter; a ``ValueError`` (no floor) keeps ``first``.

    Returns
    -------
    ArenaROI
        The retry's arena, its :attr:`~ArenaROI.notes` saying why (also warned with
        :class:`ArenaWarning`), or ``first`` when the retry is no better (logged).
    """
    try:
        second = find_again()
    except ValueError as error:
        logger.info("arena retry with the gradient filter found no floor: %s", error)
        return first
    if second.problems:
        logger.info(
            "arena retry with the gradient filter is no better (%s); keeping the first",
            "; ".join(second.problems),
        )
        return first
    note = (
        f"the arena found first ({int(first.mask.sum()):,} px) was implausible "
        f"({'; '.join(first.problems)}); with the gradient filter the arena is "
        f"{int(second.mask.sum()):,} px, used instead (bg_roi_retry_implausible: false keeps "
        "the first)"
    )
    return _used_instead(second, note)


def retry_at_other_floors(
    first: ArenaROI, depths: list[float], find_at: Callable[[float], ArenaROI]
) -> ArenaROI:
    """The first plausible arena ``find_at`` finds at one of ``depths``, else ``first``.

    Parameters
    ----------
    first : ArenaROI
        The implausible arena found at the floor depth found first (and with the gradient
        filter).
    depths : list of float
        Other floor depths to try, mm, in order (:func:`~.floor.other_floor_depths`).
    find_at : callable
        Finds the arena with the depth range around a floor depth; a ``ValueError`` (no floor
        there) moves on to the next depth.

    Returns
    -------
    ArenaROI
        The first plausible arena, its :attr:`~ArenaROI.notes` saying why (also warned with
        :class:`ArenaWarning`), or ``first`` when none is (logged).
    """
    for depth in depths:
        try:
            second = find_at(depth)
        except ValueError as error:
            logger.info("arena retry at %.0f mm found no floor: %s", depth, error)
            continue
        if second.problems:
            logger.info(
                "arena retry at %.0f mm is no better (%s)", depth, "; ".join(second.problems)
            )
            continue
        note = (
            f"the arena found first ({int(first.mask.sum()):,} px, floor at "
            f"{first.true_depth:.0f} mm) was implausible ({'; '.join(first.problems)}); at the "
            f"next flat depth of the background, {depth:.0f} mm, the arena is "
            f"{int(second.mask.sum()):,} px (floor at {second.true_depth:.0f} mm), used instead "
            "(bg_roi_retry_implausible: false keeps the first; bg_roi_depth_range sets the range)"
        )
        return _used_instead(second, note)
    if depths:
        logger.info("arena retries at %s mm are no better; keeping the first", depths)
    return first


def _used_instead(retried: ArenaROI, note: str) -> ArenaROI:
    """The retry's arena, its notes ending with ``note`` (also warned, at the caller's caller)."""
    warnings.warn(note, ArenaWarning, stacklevel=4)
    retried.notes = (*retried.notes, note)
    return retried


def sloped_wall_note(region: np.ndarray, sloped: np.ndarray, mask: np.ndarray) -> tuple[str, ...]:
    """A note (logged) on the sloped wall left out beside the chosen floor region, if any.

    Parameters
    ----------
    region : numpy.ndarray, bool
        The chosen floor region, before dilation.
    sloped : numpy.ndarray, bool
        Pixels left out of the floor as sloped wall.
    mask : numpy.ndarray, bool
        The arena: ``region`` dilated, eroded and hole-filled.

    Returns
    -------
    tuple of str
        Empty when no sloped pixel would have joined ``region`` and stayed out of ``mask``
        (something standing still on the floor, which the hole filling takes back, is not
        reported).
    """
    if not sloped.any():
        return ()
    _, grown, _ = label_regions(region | sloped)
    labels = np.unique(grown[region])
    count = int(np.count_nonzero(sloped & ~mask & np.isin(grown, labels[labels > 0])))
    if count == 0:
        return ()
    note = (
        f"{count:,} px of sloped wall within noise_tolerance of the floor were left out of "
        "the arena (bg_roi_exclude_sloped_walls: false keeps them)"
    )
    logger.info(note)
    return (note,)
