"""The HTML report: every figure is there, its pictures decode and show what the caption says,
its plots draw the data, and the scale and colour bars are right."""

import base64
import re
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from depthextractors import read_results
from depthextractors.batch import extract_session
from depthextractors.config import ExtractionConfig
from depthextractors.io import ExtractionResults
from depthextractors.io.report import write_report
from depthextractors.io.report_figures import (
    CROP_GRID_COLUMNS,
    CROP_GRID_GAP,
    INVALID_COLOUR,
    LINE_COLOUR,
    LOW_CONFIDENCE_COLOUR,
    LOW_FLIP_CONFIDENCE,
    REPORT_IMAGES,
    ROI_COLOUR,
    TIMELINE_BAND,
    TIMELINE_GAP,
    TIMELINE_LEFT,
    TRACKED_AGAIN_COLOUR,
    VALID_COLOUR,
    build_figures,
)
from depthextractors.io.report_svg import OUTLINE_COLOUR
from depthextractors.testing import generate_synthetic_session

FRAMES = 150
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    session = tmp_path_factory.mktemp("report") / "session"
    synthetic = generate_synthetic_session(session, FRAMES, dropped_frames=2, seed=21)
    outcome = extract_session(session, session / "proc", ExtractionConfig(write_movie=False))
    page = outcome.outputs["report"]
    html = page.read_text()
    images = {}
    for key, data in re.findall(r'data-key="(\w+)"[^>]*href="data:image/png;base64,([^"]+)"', html):
        buffer = np.frombuffer(base64.b64decode(data), dtype=np.uint8)
        bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        assert bgr is not None, key
        images[key] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(int)
    results = read_results(session / "proc")
    results.metadata["floor_truth"] = synthetic.truth.floor_depth_mm
    return results, html, images, page


def luminance(rgb):
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


PICTURES = ["background", "roi_overlay", "first_frame", "crops", "quality"]
PLOTS = ["centroid_path", "speed", "height", "angle"]


def svg_of(html: str, key: str) -> ET.Element:
    """The ``<svg>`` of figure ``key`` in the page, parsed."""
    figure = re.search(rf'<figure id="{key}"[^>]*>(<svg.*?</svg>)<figcaption>', html, re.S)
    assert figure, key
    return ET.fromstring(figure.group(1))


def test_every_figure_is_in_the_page_and_written_beside(report):
    _results, html, images, page = report
    assert list(images) == PICTURES
    assert set(PICTURES + PLOTS) == set(REPORT_IMAGES)
    for key, caption in REPORT_IMAGES.items():
        assert caption in html
        assert (page.parent / "report" / f"{key}.svg").is_file()
        svg_of(html, key)  # well-formed
    for key in PICTURES:
        assert (page.parent / "report" / f"{key}.png").is_file()
        assert images[key].size > 0
    assert "<script" not in html  # self-contained and static


def test_report_takes_no_plotting_library(report, tmp_path):
    """The report was the slowest part of extract (matplotlib: ~2.7 s); it must not load it."""
    import subprocess
    import sys

    results, *_ = report
    code = (
        "import sys; from depthextractors.io.report import write_report; "
        f"write_report({str(results.path)!r}, {str(tmp_path)!r}); "
        "print('matplotlib' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "False"


def _scale_bar_mm_per_unit(svg: ET.Element) -> float:
    """Millimetres per SVG unit from a figure's scale bar (its rect and its "N mm" label)."""
    texts = [t.text for t in svg.iter(f"{SVG}text") if t.text and t.text.endswith(" mm")]
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("fill") == "#222"]
    assert len(texts) == 1
    assert len(bars) == 1
    return float(texts[0].split()[0]) / float(bars[0].get("width"))


def test_scale_bars_match_the_camera(report):
    results, html, _, _ = report
    from depthextractors.cameras import get_camera

    camera = get_camera("kinect_v2")
    fx, fy = camera.focal_length_px()
    floor_mm_per_px = results.true_depth * (1 / fx + 1 / fy) / 2
    for key, zoom in (("background", 1), ("roi_overlay", 1), ("first_frame", 1), ("crops", 2)):
        measured = _scale_bar_mm_per_unit(svg_of(html, key)) * zoom
        assert measured == pytest.approx(floor_mm_per_px, rel=0.01), key


def test_colour_bars_label_the_heights_shown(report):
    _, html, _, _ = report
    for key, label in (("background", "height above the floor (mm)"), ("crops", "height (mm)")):
        svg = svg_of(html, key)
        texts = [t.text for t in svg.iter(f"{SVG}text")]
        assert label in texts, key
        stops = [s.get("stop-color") for s in svg.iter(f"{SVG}stop")]
        assert len(stops) >= 5, key
        assert len(set(stops)) == len(stops), key


def test_background_is_depth_nearer_brighter_at_camera_resolution(report):
    results, _, images, _ = report
    background = results.background
    picture = images["background"]
    assert picture.shape[:2] == background.shape
    floor = results.true_depth
    shown = (background > floor - 60) & (background < floor + 10)
    correlation = np.corrcoef(luminance(picture)[shown], -background[shown])[0, 1]
    assert correlation > 0.9


def test_roi_overlay_has_the_roi_colour_exactly_where_the_mask_is(report):
    results, _, images, _ = report
    picture = images["roi_overlay"]
    roi = results.roi
    assert picture.shape[:2] == roi.shape
    red, green, blue = picture[..., 0], picture[..., 1], picture[..., 2]
    tinted = (red - blue > 60) & (red >= green)
    inside = cv2.erode(roi.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    outside = ~cv2.dilate(roi.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert tinted[inside].mean() > 0.99
    assert tinted[outside].mean() < 0.01
    # The outline is drawn in the ROI colour itself.
    assert np.any(np.all(picture == ROI_COLOUR, axis=-1))


def test_first_frame_shows_the_animal_brighter_than_the_floor(report):
    results, _, images, _ = report
    first = results.metadata["first_frame"].astype(float)
    picture = images["first_frame"]
    assert picture.shape[:2] == first.shape
    height = results.metadata["floor_truth"] - first
    animal = results.roi & (first > 0) & (height > 15) & (height < 100)
    floor = results.roi & (first > 0) & (np.abs(height) < 3)
    assert animal.sum() > 50
    assert luminance(picture)[animal].mean() > luminance(picture)[floor].mean() + 30


def test_crop_grid_has_the_right_number_of_tiles_each_with_the_animal(report):
    results, html, images, _ = report
    grid = images["crops"]
    rows, cols = results.frames.shape[1:]
    count = int(re.search(r"(\d+) crops, frames", html).group(1))
    assert count == 24
    grid_rows = -(-count // CROP_GRID_COLUMNS)
    gap = CROP_GRID_GAP
    assert grid.shape[:2] == (
        grid_rows * (rows + gap) + gap,
        CROP_GRID_COLUMNS * (cols + gap) + gap,
    )
    tiles = 0
    for r in range(grid_rows):
        for c in range(CROP_GRID_COLUMNS):
            top, left = gap + r * (rows + gap), gap + c * (cols + gap)
            tile = grid[top : top + rows, left : left + cols]
            if np.all(tile == 255):
                continue  # unused tile of the last row
            tiles += 1
            assert (tile.sum(axis=-1) > 0).sum() > 100  # the animal, in colour
            assert (tile.sum(axis=-1) == 0).sum() > 100  # black around it
    assert tiles == count
    assert np.all(grid[:gap] == 255)  # white gaps between tiles


def _drawn_points(svg: ET.Element, colour: str = LINE_COLOUR) -> np.ndarray:
    lines = [p for p in svg.iter(f"{SVG}polyline") if p.get("stroke") == colour]
    points = [np.array([xy.split(",") for xy in p.get("points").split()], float) for p in lines]
    return np.vstack(points) if points else np.zeros((0, 2))


@pytest.mark.parametrize("key", PLOTS)
def test_plots_are_not_empty(report, key):
    _, html, _, _ = report
    points = _drawn_points(svg_of(html, key))
    assert len(points) > 100, key
    assert np.ptp(points[:, 0]) > 100  # spread over the plot
    assert np.ptp(points[:, 1]) > 20


def test_speed_plot_draws_every_peak(report):
    """Long series are thinned to each pixel column's extremes: the highest speed is drawn."""
    results, html, _, _ = report
    svg = svg_of(html, "speed")
    points = _drawn_points(svg)
    speed = np.asarray(results.scalars["velocity_2d_mm_per_s"], float)
    ticks = {float(t.text): float(t.get("y")) - 4 for t in svg.iter(f"{SVG}text")
             if t.get("text-anchor") == "end" and t.text}  # fmt: skip
    (v0, y0), (v1, y1) = sorted(ticks.items())[:2]
    highest_drawn = v0 + (points[:, 1].min() - y0) * (v1 - v0) / (y1 - y0)
    assert highest_drawn == pytest.approx(np.nanmax(speed), rel=0.02)


def test_path_plot_has_the_arena_outline_around_the_path(report):
    _, html, _, _ = report
    svg = svg_of(html, "centroid_path")
    path = _drawn_points(svg)
    outline = _drawn_points(svg, OUTLINE_COLOUR)
    assert len(outline) > 20
    centre = outline.mean(axis=0)
    radius = np.hypot(*(outline - centre).T)
    distance = np.hypot(*(path - centre).T)
    # The synthetic arena is round: the outline is a circle and the path lies inside it.
    assert radius.std() < 0.03 * radius.mean()
    assert distance.max() < radius.min()


def test_quality_timeline_marks_the_frames_without_the_animal(report):
    results, _, images, _ = report
    picture = images["quality"]
    valid = results.valid
    width = picture.shape[1] - TIMELINE_LEFT - 10
    expected = np.zeros(width, dtype=bool)
    for column in range(width):
        first = column * valid.size // width
        last = max((column + 1) * valid.size // width, first + 1)
        expected[column] = not valid[first:last].all()
    band = picture[TIMELINE_GAP + TIMELINE_BAND // 2, TIMELINE_LEFT : TIMELINE_LEFT + width]
    red = np.all(band == INVALID_COLOUR, axis=-1)
    green = np.all(band == VALID_COLOUR, axis=-1)
    np.testing.assert_array_equal(red, expected)
    np.testing.assert_array_equal(green, ~expected)
    dropped_row = picture[TIMELINE_GAP * 2 + TIMELINE_BAND + TIMELINE_BAND // 2]
    dark = np.all(dropped_row[TIMELINE_LEFT : TIMELINE_LEFT + width] == 0, axis=-1)
    runs = np.count_nonzero(np.diff(dark.astype(int)) == 1) + int(dark[0])
    assert runs == results.dropped_after.size == 2  # one mark per gap


def _decode(png: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(int)


def _expected_columns(flags: np.ndarray, width: int) -> np.ndarray:
    """Which timeline columns have a flagged frame (column c: frames c * n // width on)."""
    expected = np.zeros(width, dtype=bool)
    for column in range(width):
        first = column * flags.size // width
        last = max((column + 1) * flags.size // width, first + 1)
        expected[column] = flags[first:last].any()
    return expected


LOW_CONFIDENCE_ROW = TIMELINE_GAP * 4 + TIMELINE_BAND * 3 + TIMELINE_BAND // 2


def test_quality_timeline_marks_low_flip_confidence(report):
    results, html, images, _ = report
    # The extracted session: the motion corrector was sure of every frame, so the band is grey
    # and the caption says so.
    confidence = np.asarray(results.flip_confidence[:], dtype=float)
    assert np.nanmin(confidence) >= LOW_FLIP_CONFIDENCE
    picture = images["quality"]
    width = picture.shape[1] - TIMELINE_LEFT - 10
    band = picture[LOW_CONFIDENCE_ROW, TIMELINE_LEFT : TIMELINE_LEFT + width]
    assert np.all(band == 236)
    assert f"flip confidence below {LOW_FLIP_CONFIDENCE:g}" in html
    assert "orange (0 frames)" in html
    assert re.search(r"Flip confidence</td><td>median 1\.000; 0 frames below 0\.9", html)

    # The same results with uncertain headings in two stretches, NaN in a third (no animal
    # there or no answer: not marked), drawn where they are and counted in the caption.
    n = len(results)
    doubtful = np.ones(n, dtype=np.float32)
    doubtful[30:60] = 0.7
    doubtful[100] = 0.55
    doubtful[120:130] = np.nan
    scalars = dict(results.scalars)
    scalars["valid"] = np.ones(n, dtype=bool)
    changed = ExtractionResults(
        results.frames, results.frames_mask, scalars, results.timestamps, results.metadata,
        results.flips, flip_confidence=doubtful,
    )  # fmt: skip
    figure = next(f for f in build_figures(changed, num_crops=4) if f.key == "quality")
    picture = _decode(figure.png)
    band = picture[LOW_CONFIDENCE_ROW, TIMELINE_LEFT : TIMELINE_LEFT + width]
    orange = np.all(band == LOW_CONFIDENCE_COLOUR, axis=-1)
    grey = np.all(band == 236, axis=-1)
    low = doubtful < LOW_FLIP_CONFIDENCE  # NaN compares False
    expected = _expected_columns(low, width)
    np.testing.assert_array_equal(orange, expected)
    np.testing.assert_array_equal(grey, ~expected)
    runs = np.count_nonzero(np.diff(orange.astype(int)) == 1) + int(orange[0])
    assert runs == 2
    assert "orange (31 frames)" in figure.note

    # Without a flip corrector: no confidence, a grey band, and the note says why.
    none = ExtractionResults(
        results.frames, results.frames_mask, results.scalars, results.timestamps,
        results.metadata, None,
    )  # fmt: skip
    figure = next(f for f in build_figures(none, num_crops=4) if f.key == "quality")
    band = _decode(figure.png)[LOW_CONFIDENCE_ROW, TIMELINE_LEFT : TIMELINE_LEFT + width]
    assert np.all(band == 236)
    assert "no flip confidence recorded" in figure.note


TRACKED_AGAIN_ROW = TIMELINE_GAP * 5 + TIMELINE_BAND * 4 + TIMELINE_BAND // 2


def test_quality_timeline_marks_the_frames_tracked_again(report):
    results = report[0]
    n = len(results)
    again = np.zeros(n, dtype=bool)
    again[40:43] = True
    again[110] = True
    marked = ExtractionResults(
        results.frames, results.frames_mask, results.scalars, results.timestamps,
        results.metadata, results.flips, flip_confidence=results.flip_confidence,
        tracked_again=again,
    )  # fmt: skip
    figure = next(f for f in build_figures(marked, num_crops=4) if f.key == "quality")
    picture = _decode(figure.png)
    width = picture.shape[1] - TIMELINE_LEFT - 10
    band = picture[TRACKED_AGAIN_ROW, TIMELINE_LEFT : TIMELINE_LEFT + width]
    blue = np.all(band == TRACKED_AGAIN_COLOUR, axis=-1)
    np.testing.assert_array_equal(blue, _expected_columns(again, width))
    np.testing.assert_array_equal(np.all(band == 236, axis=-1), ~blue)
    assert "blue (4 frames)" in figure.note
    # A run that does not track frames again records nothing: a grey band, and the note says so.
    none = ExtractionResults(
        results.frames, results.frames_mask, results.scalars, results.timestamps,
        results.metadata, results.flips, flip_confidence=results.flip_confidence,
    )  # fmt: skip
    figure = next(f for f in build_figures(none, num_crops=4) if f.key == "quality")
    band = _decode(figure.png)[TRACKED_AGAIN_ROW, TIMELINE_LEFT : TIMELINE_LEFT + width]
    assert np.all(band == 236)
    assert "this run does not track frames again" in figure.note


def test_summary_table_figures(report):
    results, html, _, _ = report
    assert f"{100 * results.valid.mean():.1f}%" in html
    assert re.search(r"Dropped frames</td><td>2<", html)
    assert f"{results.true_depth:.1f} mm" in html
    flips = np.asarray(results.flips[:], bool)[results.valid]
    switches = int(np.count_nonzero(flips[1:] != flips[:-1]))
    assert re.search(
        rf"Heading \(nose end\)</td><td>chosen by [^:]+: the nose end switched {switches:,} times",
        html,
    )
    assert re.search(r"Extracted by</td><td>depthextractors \d", html)


def test_report_of_a_moseq2_extract_file(real_data, tmp_path):
    """moseq2-extract's files have no valid scalar and name their own version."""
    page = write_report(real_data / "moseq2_kinect_session" / "results_00.h5", tmp_path)
    html = page.read_text()
    assert "Extracted by</td><td>moseq2-extract 0.1.3<" in html
    assert "Valid frames (animal found)</td><td>100.0%<" in html
    for key in REPORT_IMAGES:
        assert (tmp_path / "report" / f"{key}.svg").is_file()
    assert "no flip corrector ran" in html


def test_report_command_path_and_in_memory_results(report, tmp_path):
    results, *_ = report
    page = write_report(results.path, tmp_path, num_crops=5)
    assert page == tmp_path / "report.html"
    assert "5 crops, frames" in page.read_text()


def test_no_warning_when_the_animal_is_found(report):
    _, html, _, _ = report
    assert 'class="warning"' not in html


@pytest.mark.filterwarnings("ignore:the animal was not found:UserWarning")
def test_a_session_without_the_animal_says_so_first(tmp_path):
    session = tmp_path / "session"
    generate_synthetic_session(session, 30, seed=8)
    # A height range the mouse never reaches: nothing is found.
    config = ExtractionConfig(write_movie=False, min_height=150, max_height=250)
    outcome = extract_session(session, session / "proc", config)
    html = outcome.outputs["report"].read_text()
    banner = re.search(r'<p class="warning">([^<]*)</p>', html)
    assert banner is not None
    assert "found in no frame" in banner.group(1)
    assert "min_height 150" in banner.group(1)
    assert html.index('class="warning"') < html.index('class="summary"')  # seen first
    assert "1 crop, frame" not in html  # 30 frames, none valid: every frame is a candidate
    # The empty plots say why they are empty, and draw no line.
    for key in PLOTS:
        svg = svg_of(html, key)
        assert "no frames with the animal" in [t.text for t in svg.iter(f"{SVG}text")], key
        assert len(_drawn_points(svg)) == 0, key


def test_a_session_with_few_frames_of_the_animal_says_how_few():
    from types import SimpleNamespace

    from depthextractors.io.report import _warning

    valid = np.zeros(200, bool)
    valid[:30] = True
    few = SimpleNamespace(valid=valid, parameters={"min_height": 10, "max_height": 100})
    assert "found in only 30 of 200 frames (15.0%)" in _warning(few)
    valid[:150] = True
    assert _warning(SimpleNamespace(valid=valid, parameters={})) is None


def test_heading_plot_does_not_draw_the_wrap_as_a_turn():
    from depthextractors.io.report_figures import _break_at_wraps

    times = np.arange(200) / 30.0
    degrees = np.degrees(np.angle(np.exp(1j * np.linspace(0, 12 * np.pi, 200))))
    broken_times, broken = _break_at_wraps(times, degrees)
    assert np.isnan(broken).sum() == np.isnan(broken_times).sum() == 6  # six turns, six wraps
    steps = np.abs(np.diff(broken))
    assert np.nanmax(steps) < 30  # between drawn neighbours only small steps are left
    np.testing.assert_array_equal(broken[~np.isnan(broken)], degrees)
    np.testing.assert_array_equal(broken_times[~np.isnan(broken_times)], times)
