"""Which end is the nose: flip correctors.

The tracker knows the body axis only modulo pi. A flip corrector decides, per frame, whether the
angle points at the nose (keep) or at the tail (flip: angle + pi, crop and mask rotated 180
degrees); :class:`~depthextractors.extraction.session.SessionExtraction` applies its decisions.

- :mod:`~depthextractors.extraction.flips.base`: the contract, :class:`FlipCorrector` (one
  method to write, ``correct``), and what it sees and answers (:class:`FlipContext`,
  :class:`FlipDecision`);
- :mod:`~depthextractors.extraction.flips.motion`: :class:`MotionFlipCorrector`, from motion
  and body shape over the whole session, no model needed (the default);
- :mod:`~depthextractors.extraction.flips.classifier`: :class:`ClassifierFlipCorrector`, a
  scikit-learn classifier trained on extracted crops, saved in a portable file;
- :mod:`~depthextractors.extraction.flips.training`: :func:`train_flip_classifier`.
"""

from .base import FlipContext, FlipCorrector, FlipDecision
from .classifier import ClassifierFlipCorrector, FlipClassifierError
from .motion import MotionFlipCorrector
from .training import train_flip_classifier

__all__ = [
    "ClassifierFlipCorrector",
    "FlipClassifierError",
    "FlipContext",
    "FlipCorrector",
    "FlipDecision",
    "MotionFlipCorrector",
    "train_flip_classifier",
]
