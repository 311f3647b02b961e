"""``depthextractors compare``: two extractions of one recording, side by side."""

from __future__ import annotations

from pathlib import Path

import click

from .options import existing
from .terminal import debug_option


@click.command()
@click.argument("results_a", type=click.Path(path_type=Path))
@click.argument("results_b", type=click.Path(path_type=Path))
@click.option(
    "--figure",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw the arenas, the centroid paths and the scalars' differences in this PNG.",
)
@debug_option
def compare(results_a: Path, results_b: Path, figure: Path | None) -> None:
    """Compare two extractions of one recording (results_00.h5 files or their directories).

    Either may be this project's or moseq2-extract's, of any version: prints the arena's
    intersection over union, every shared scalar's median and 95th-percentile difference over
    the frames both found the animal in, the crops' median correlation, how often the
    headings agree, dropped frames and the parameters that differ (B minus A).
    """
    from ..io import read_results
    from ..io.compare import compare_results

    first = read_results(existing(results_a, "results"))
    second = read_results(existing(results_b, "results"))
    comparison = compare_results(first, second)
    click.echo(comparison.format_table())
    if figure is not None:
        click.echo(f"figure: {comparison.figure(figure, first, second)}")
