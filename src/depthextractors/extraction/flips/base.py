"""The flip-corrector contract: :class:`FlipCorrector`, :class:`FlipContext`, :class:`FlipDecision`.

A flip corrector is one subclass of :class:`FlipCorrector` with one method, ``correct``::

    class HeavierRear(FlipCorrector):
        def correct(self, context):
            # The rear is taller than the head: turn round the frames whose east half, where
            # the nose belongs, holds more height than the west half.
            half = context.frames.shape[2] // 2
            west = context.frames[:, :, :half].sum(axis=(1, 2), dtype=float)
            east = context.frames[:, :, -half:].sum(axis=(1, 2), dtype=float)
            return east > west

Everything else has a default that does nothing, and the parameters are the constructor's
arguments (:class:`~depthextractors.extraction.strategy.Strategy`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ...cameras import CameraModel
from ..strategy import Strategy

__all__ = ["FlipContext", "FlipCorrector", "FlipDecision"]


@dataclass
class FlipContext:
    """What a flip corrector sees of one chunk of finished frames.

    Attributes
    ----------
    start : int
        Index of the first frame in the results.
    frames : numpy.ndarray
        ``(n, crop_rows, crop_cols)`` crops rotated by :attr:`angle` (the nose is east when the
        angle points at the head, west when it points at the tail).
    masks : numpy.ndarray
        ``(n, crop_rows, crop_cols)`` bool animal masks, rotated the same way (with the EM
        tracker: the cropped filtered heights at ``min_height`` and above, not its model's
        mask, which can leave out an end of the body).
    angle : numpy.ndarray
        ``(n,)`` body angle, radians, y up (NaN where no animal).
    centroid_px : numpy.ndarray
        ``(n, 2)`` full-frame ``(x, y)`` centroid, pixels (NaN where no animal).
    valid : numpy.ndarray
        ``(n,)`` bool, where the animal was found.
    timestamps_s : numpy.ndarray
        ``(n,)`` frame times, seconds.
    camera : CameraModel
        The camera.
    true_depth : float
        Floor depth, millimetres.
    animal_height_mm : float or None
        The animal's back height measured before the extraction (the 75th percentile of its
        heights, :attr:`~depthextractors.extraction.animal_size.AnimalSize.height_mm`), mm;
        None when it was not measured.
    lookahead : FlipContext or None
        The frames that follow the chunk, up to the corrector's ``lookahead`` (fewer at the end
        of the session; ``None`` when it asks for none): evidence only, decided when their own
        chunk comes. Their values can differ slightly from their final ones (the Hampel
        filters see fewer frames after them).
    """

    start: int
    frames: np.ndarray
    masks: np.ndarray
    angle: np.ndarray
    centroid_px: np.ndarray
    valid: np.ndarray
    timestamps_s: np.ndarray
    camera: CameraModel
    true_depth: float
    lookahead: FlipContext | None = None
    animal_height_mm: float | None = None

    def __len__(self) -> int:
        return int(self.angle.shape[0])


@dataclass
class FlipDecision:
    """A flip corrector's answer for one chunk, with its confidence.

    Attributes
    ----------
    flips : numpy.ndarray
        ``(n,)`` bool, frames to turn round.
    confidence : numpy.ndarray
        ``(n,)`` float, probability that the orientation chosen for each frame is right
        (normally 0.5 to 1), NaN where the animal was not found. Written to
        ``/metadata/extraction/flip_confidence``.
    """

    flips: np.ndarray
    confidence: np.ndarray


class FlipCorrector(Strategy, ABC):
    """Decides which frames show the animal the wrong way round.

    The tracker knows the body axis only modulo pi; a flip corrector decides, per frame,
    whether the angle points at the nose (keep) or at the tail (flip). Subclasses implement
    :meth:`correct`; the other members have defaults that do nothing. Parameters follow
    :class:`~depthextractors.extraction.strategy.Strategy`: store each constructor argument
    under its own name and :meth:`get_params`, :meth:`describe` and ``repr`` work.

    What :class:`~depthextractors.extraction.session.SessionExtraction` guarantees:

    - :meth:`check_crop_size` is called once, when the session is created, with the crop size;
    - :meth:`reset` is called before the first chunk of every run, so one instance can correct
      several sessions one after the other (not at the same time: it follows one session);
    - :meth:`correct` is called from one thread, once per chunk, with the chunks in frame order
      and without gaps or overlaps: every frame of the session is in exactly one
      :class:`FlipContext` and is decided once;
    - :attr:`FlipContext.lookahead` holds the (up to) :attr:`lookahead` frames that follow the
      chunk. They are evidence only: they come again, and are decided, in their own chunk, and
      their values there can differ slightly;
    - the session turns round the frames whose answer is ``True`` and where the animal was
      found, exactly once: angle + pi, crop and mask rotated 180 degrees. An answer of the
      wrong length raises :class:`ValueError`;
    - :meth:`finalize` is called once after the last chunk of a run that succeeded.
    """

    #: Frames after each chunk the corrector wants to see as evidence
    #: (:attr:`FlipContext.lookahead`); override it with a constructor argument of that name,
    #: a class attribute or a property. The session reads and crops those frames twice.
    lookahead: int = 0

    def reset(self) -> None:
        """Forget the session followed so far; called before the first chunk of each run."""

    def finalize(self) -> None:
        """Called once after the last chunk of a run."""

    def check_crop_size(self, crop_size: tuple[int, int]) -> None:
        """Raise for crops this corrector cannot handle (any size is accepted by default).

        Parameters
        ----------
        crop_size : (int, int)
            ``(rows, cols)`` of the extraction's crops, pixels.
        """

    @abstractmethod
    def correct(self, context: FlipContext) -> FlipDecision | np.ndarray:
        """Frames of ``context`` to flip, ``(n,)`` bool (or a :class:`FlipDecision`).

        Parameters
        ----------
        context : FlipContext
            One chunk of finished frames, in session order.

        Returns
        -------
        FlipDecision or numpy.ndarray
            A :class:`FlipDecision` (flips and a per-frame confidence), or ``(n,)`` bool, True
            for frames to turn round (their confidence is then recorded as NaN).
        """
