"""docs/migrating.md stays true: every moseq2-extract option is there, every configuration key
is documented with its real default, and every strategy parameter it names exists."""

import inspect
import re
from pathlib import Path

import pytest

import depthextractors
import depthextractors.batch
import depthextractors.extraction
import depthextractors.extractors
from depthextractors.config import ExtractionConfig, option_specs

PAGE = Path(__file__).resolve().parents[1] / "docs" / "migrating.md"

# moseq2-extract's `extract` options (its documentation, October 2020); `find-roi` takes the
# first 20 of them.
MOSEQ2_EXTRACT_OPTIONS = [
    "--progress-bar",
    "--config-file",
    "--use-plane-bground",
    "--output-dir",
    "--noise-tolerance",
    "--erode-iterations",
    "--bg-roi-erode",
    "--dilate-iterations",
    "--bg-sort-roi-by-position-max-rois",
    "--bg-sort-roi-by-position",
    "--bg-roi-fill-holes",
    "--bg-roi-gradient-kernel",
    "--bg-roi-gradient-threshold",
    "--bg-roi-gradient-filter",
    "--bg-roi-depth-range",
    "--camera-type",
    "--bg-roi-weights",
    "--bg-roi-index",
    "--bg-roi-shape",
    "--bg-roi-dilate",
    "--threads",
    "--delete",
    "--fps",
    "--chunk-size",
    "--output-file",
    "--crop-size",
    "--num-frames",
    "--min-height",
    "--max-height",
    "--detected-true-depth",
    "--compute-raw-scalars",
    "--flip-classifier",
    "--flip-classifier-smoothing",
    "--use-cc",
    "--use-tracking-model",
    "--tracking-model-ll-threshold",
    "--tracking-model-mask-threshold",
    "--tracking-model-ll-clip",
    "--tracking-model-segment",
    "--tracking-model-init",
    "--cable-filter-iters",
    "--cable-filter-shape",
    "--cable-filter-size",
    "--tail-filter-iters",
    "--tail-filter-size",
    "--tail-filter-shape",
    "--spatial-filter-size",
    "--temporal-filter-size",
    "--chunk-overlap",
    "--write-movie",
    "--frame-dtype",
    "--centroid-hampel-span",
    "--centroid-hampel-sig",
    "--angle-hampel-span",
    "--angle-hampel-sig",
    "--model-smoothing-clips",
    "--frame-trim",
    "--compress",
    "--compress-chunk-size",
    "--compress-threads",
    "--skip-completed",
]
# What moseq2-extract 1.4.0's `extract --help` and `batch-extract --help` list beyond those.
MOSEQ2_1_4_OPTIONS = [
    "--cluster-type", "--recompute-bg", "--mapping", "--pixel-format", "--movie-dtype",
    "--graduate-walls", "--widen-radius", "--extensions", "--skip-checks",
    "--extract-out-script", "--get-cmd", "--run-cmd", "--ncpus", "--prefix", "--memory",
    "--wall-time", "--partition",
]  # fmt: skip


def table_rows() -> list[list[str]]:
    rows = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def shown(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def test_every_moseq2_option_has_a_row():
    first_cells = " ".join(row[0] for row in table_rows())
    assert len(MOSEQ2_EXTRACT_OPTIONS) == 61
    missing = [o for o in MOSEQ2_EXTRACT_OPTIONS if f"`{o}`" not in first_cells]
    assert not missing, f"docs/migrating.md lacks moseq2-extract options {missing}"
    newer = [o for o in MOSEQ2_1_4_OPTIONS if f"`{o}`" not in first_cells]
    assert not newer, f"docs/migrating.md lacks moseq2-extract 1.4.0 options {newer}"


def test_every_moseq2_key_that_is_not_a_parameter_is_on_the_page():
    from depthextractors.config import MOSEQ2_KEYS

    text = PAGE.read_text(encoding="utf-8")
    quiet = {"input_dir", "config_file", "session_config_path", "finfo", "timestamps", "tar"}
    for entry in MOSEQ2_KEYS:
        option = "--" + entry.key.replace("_", "-")
        assert entry.key in quiet or f"`{option}`" in text or f"`{entry.key}`" in text, entry.key


DEFAULTS = ExtractionConfig()


@pytest.mark.parametrize("spec", option_specs(), ids=lambda spec: spec.key)
def test_every_configuration_key_is_documented_with_its_default(spec):
    rows = [row for row in table_rows() if any(c.startswith(f"`{spec.key}`") for c in row)]
    assert rows, f"docs/migrating.md does not document the key {spec.key}"
    default = shown(DEFAULTS[spec.key])
    for row in rows:
        column = next(i for i, c in enumerate(row) if c.startswith(f"`{spec.key}`"))
        # The default follows the key: the next column.
        assert row[column + 1] == default, (
            f"docs/migrating.md gives {spec.key} the default {row[column + 1]!r}; the "
            f"configuration's is {default!r}"
        )


def test_strategy_parameters_named_on_the_page_exist():
    namespaces = (depthextractors, depthextractors.extraction, depthextractors.batch,
                  depthextractors.extractors)  # fmt: skip
    calls = set(re.findall(r"`([A-Za-z_][\w.]*)\((?:[^`]*?, )?(\w+)=", PAGE.read_text()))
    assert len(calls) > 30
    for name, parameter in sorted(calls):
        target = None
        for namespace in namespaces:
            target = namespace
            for part in name.split("."):
                target = getattr(target, part, None)
            if target is not None:
                break
        assert target is not None, f"docs/migrating.md names {name}, which does not exist"
        parameters = inspect.signature(target).parameters
        # open_depth_video passes keyword arguments on to the extractor (camera=...).
        forwarded = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        assert parameter in parameters or forwarded, (
            f"docs/migrating.md names {name}({parameter}=...), which has no such parameter"
        )
