"""What the tail and tether filters trimmed that is body again
(:class:`~depthextractors.extraction.body_trimmed.TrimmedParts`): a snout's tip beside a cable
rising from the head comes back, a cable's own low stretch does not. The put-back's other rules
are tested with the body centroid (``test_body_centroid.py``)."""

import cv2
import numpy as np

from depthextractors.extraction.body_trimmed import TrimmedParts
from depthextractors.extraction.filters import FrameFilters
from test_body_centroid import head_the_tether_filter_took


def head_under_a_rising_cable(rises_from_the_body=True):
    """The rat of :func:`head_the_tether_filter_took` without its tail, with a bundle 10 px
    wide (120 mm, taller than the back) from over the north half of its head to the image's
    edge; or (``rises_from_the_body`` false) a bundle leaving the head's tip at the head's
    height (40 mm) and rising only 20 px beyond the body. ``(body, candidates, heights,
    cable)``."""
    body, _, heights = head_the_tether_filter_took()
    heights[heights == 15] = 0
    cable = np.zeros_like(body)
    if rises_from_the_body:
        cv2.line(cable, (172, 44), (219, 0), 1, 10)
    else:
        low = heights[45:56, 176:205]
        low[body[45:56, 176:205] == 0] = 40
        cv2.line(cable, (200, 50), (219, 20), 1, 10)
    heights[(cable > 0) & (body == 0)] = 120
    return body, (heights > 0).astype(np.uint8), heights, (cable > 0) & (body == 0)


def test_a_snout_tip_beside_a_cable_rising_from_the_head_comes_back():
    """A bundle rising from over the head joins the head's tip to its stretch: one trimmed
    part that reaches to the image's edge, which the head rule alone leaves out (drawn rats
    with a taut bundle at the head lost their head's tip so, 2-3 px behind for 40 frames at a
    time). Its pixels no lower than the body's median are the head's, judged by the snout's
    tests: they come back, the cable's pixels are kept apart for the hidden pixels' share,
    and only the cable is left out. A window too small to tell how far the tip reaches says
    so."""
    body, candidates, heights, cable = head_under_a_rising_cable()
    head = (heights == 40) & (body == 0)
    trimmed = TrimmedParts(FrameFilters(tether_size=35))
    assert trimmed.put_back(body.copy(), candidates, heights, tips_judged=False).complete is False
    grown = body.copy()
    found = trimmed.put_back(grown, candidates, heights)
    assert found.complete
    np.testing.assert_array_equal(grown > 0, (body > 0) | head)
    np.testing.assert_array_equal(found.beside_cable > 0, head)
    np.testing.assert_array_equal(found.cable > 0, cable)
    np.testing.assert_array_equal(found.left_out > 0, cable)


def test_a_cable_lying_low_before_it_rises_stays_out():
    """A slack bundle leaving the head's tip at the head's height and rising only beyond it
    (its tall pixels do not touch the body): its low stretch is the cable's own, as wide as a
    head and along the axis, and stays out with it."""
    body, candidates, heights, _ = head_under_a_rising_cable(rises_from_the_body=False)
    grown = body.copy()
    found = TrimmedParts(FrameFilters(tether_size=35)).put_back(grown, candidates, heights)
    np.testing.assert_array_equal(grown, body)
    assert found.beside_cable is None
    assert found.cable is None
    np.testing.assert_array_equal(found.left_out > 0, (heights > 0) & (body == 0))
