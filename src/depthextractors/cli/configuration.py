"""The configuration and index commands: ``generate-config``, ``generate-index`` and
``aggregate-results``."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import ExtractionConfig
from .options import CAMERA_CHOICE, existing
from .terminal import InputError, debug_option

_AZURE_PRESET = {
    # moseq2-extract's generate-config --camera-type azure values.
    "bg_roi_depth_range": [550, 650],
    "spatial_filter_size": 5,
    "tail_filter_size": [15, 15],
    "crop_size": [120, 120],
    "camera_type": "azure",
}


@click.command(name="generate-config")
@click.option(
    "-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path),
    default=Path("config.yaml"), show_default=True,
)  # fmt: skip
@click.option(
    "--camera-type", type=CAMERA_CHOICE, default="auto", show_default=True,
    help="Write moseq2-extract's preset for this camera (azure: 550-650 mm, 120x120 crops); "
    "k2, a camera family or a camera model name",
)  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@debug_option
def generate_config(output_file: Path, camera_type: str, overwrite: bool) -> None:
    """Write a config.yaml with every extraction parameter and its default."""
    if output_file.exists() and not overwrite:
        raise InputError(f"{output_file} exists; pass --overwrite to replace it")
    from ..cameras import CAMERA_PRESETS

    camera_type = camera_type.lower()
    config = ExtractionConfig()
    family = CAMERA_PRESETS[camera_type].family if camera_type in CAMERA_PRESETS else camera_type
    if family == "azure":
        config = config.updated({**_AZURE_PRESET, "camera_type": camera_type})
    elif camera_type != "auto":
        config = config.updated({"camera_type": camera_type})
    config.to_yaml(output_file)
    click.echo(f"wrote {output_file}")


@click.command(name="generate-index")
@click.option(
    "-i", "--input-dir", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd(),
    show_default=True, help="Directory to find h5 files",
)  # fmt: skip
@click.option(
    "-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path),
    default=Path.cwd() / "moseq2-index.yaml", show_default=True, help="Location for storing index",
)  # fmt: skip
@debug_option
def generate_index(input_dir: Path, output_file: Path) -> None:
    """Write moseq2-index.yaml listing every completed extraction under a directory."""
    from ..batch.index import generate_index as build

    existing(input_dir, "input directory")
    path, count = build(input_dir, output_file)
    click.echo(f"wrote {path} ({count} sessions)")


@click.command(name="aggregate-results")
@click.option(
    "-i", "--input-dir", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd(),
    show_default=True, help="Directory to find h5 files",
)  # fmt: skip
@click.option(
    "-f", "--format", "format_string", default="{start_time}_{session_name}_{subject_name}",
    show_default=True,
    help="New file name formats from respective metadata (metadata.json keys, CamelCase or "
    "snake_case)",
)  # fmt: skip
@click.option(
    "-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
    default=Path.cwd() / "aggregate_results", show_default=True,
    help="Location for storing all results together",
)  # fmt: skip
@click.option(
    "--mouse-threshold", type=float, default=0, show_default=True,
    help="Threshold value for mean depth to include frames in aggregated results",
)  # fmt: skip
@debug_option
def aggregate_results(
    input_dir: Path, format_string: str, output_dir: Path, mouse_threshold: float
) -> None:
    """Copy every completed extraction (h5, yaml, mp4) into one folder, named from metadata."""
    from ..batch.index import aggregate_results as aggregate

    existing(input_dir, "input directory")
    copied, index = aggregate(input_dir, format_string, output_dir, mouse_threshold)
    click.echo(f"{len(copied)} sessions in {output_dir}")
    for path in copied:
        click.echo(f"  {path.name}")
    click.echo(f"index: {index}")
