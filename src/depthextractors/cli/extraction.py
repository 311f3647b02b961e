"""The extraction commands: ``extract``, ``find-roi`` and ``batch-extract``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    config_options,
    existing,
    load_config,
    moseq2_options,
    open_checked,
    reading_options,
    session_options,
    show_progress,
)
from .terminal import InputError, RunError, cli_words, debug_option


@click.command()
@click.argument("input_file", type=click.Path(path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory for results_00.h5; a relative path is taken from the recording's "
    "place, as moseq2-extract does  [default: proc beside the recording; <name>/proc for a "
    "second recording of its folder]",
)
@session_options
@click.option(
    "--skip-completed", is_flag=True, default=None,
    help="Keep complete results made with the same parameters (results that cannot be read or "
    "were made with other parameters are extracted again, saying why). Without it, complete "
    "results are extracted again with a warning naming them.",
)  # fmt: skip
@click.option("--no-movie", is_flag=True, help="Do not write the results_00.mp4 preview movie.")
@click.option(
    "--n-jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Workers of the extraction: by default one process per CPU (up to 8) where the "
    "recording is a raw depth.dat, else threads (1 on a machine with 2 CPUs, up to 4 on larger "
    "ones); see --workers.",
)
@config_options(("roi", "extract", "workflow"))
@reading_options
@moseq2_options("extract")
@debug_option
def extract(
    input_file: Path,
    output_dir: Path | None,
    config_file: Path | None,
    progress_bar: bool | None,
    skip_completed: bool | None,
    no_movie: bool,
    n_jobs: int | None,
    **given: Any,
) -> None:
    """Extract the animal from a depth recording into results_00.h5 (moseq2 layout).

    INPUT_FILE is a depth.dat, .avi, .mkv, .bag or .tar.gz recording, or its session
    directory. Also writes the ROI/background TIFFs, the preview movie results_00.mp4, the
    report report.html and extract.log.
    """
    from ..workflow import extract_session

    config = load_config(config_file, given)
    if no_movie:
        config = config.updated({"write_movie": False})
    open_checked(config, input_file)
    run = config.run_options
    outcome = extract_session(
        input_file,
        output_dir,
        config,
        progress=show_progress(progress_bar, run),
        skip_completed=bool(run.get("skip_completed")) if skip_completed is None else True,
        n_jobs=n_jobs,
    )
    if outcome.status in ("skipped", "completed"):
        click.echo(f"{outcome.name}: already extracted in {outcome.output_dir} (skipped)")
    else:
        click.echo(f"{outcome.name}: {outcome.message} in {outcome.seconds:.1f} s")
    echo_outputs(outcome)


def echo_outputs(outcome) -> None:
    """List the files a session's extraction made."""
    labels = {"results": "results", "movie": "movie", "report": "report", "avi": "avi"}
    for key, label in labels.items():
        if key in outcome.outputs:
            click.echo(f"  {label:<8} {outcome.outputs[key]}")
    if outcome.log_file is not None:
        click.echo(f"  {'log':<8} {outcome.log_file}")


@click.command(name="find-roi")
@click.argument("input_file", type=click.Path(path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where bground.tiff, roi.tiff and first_frame.tiff go; a relative path is taken from "
    "the recording's place  [default: where extract puts the results]",
)
@session_options
@config_options(("roi",))
@reading_options
@moseq2_options("find-roi")
@debug_option
def find_roi(
    input_file: Path,
    output_dir: Path | None,
    config_file: Path | None,
    progress_bar: bool | None,
    **given: Any,
) -> None:
    """Find the arena (ROI) and the background of a recording, and write them as TIFFs.

    Prints the arena's size and floor depth, what the arena step did beyond moseq2-extract's
    steps (a sloped wall left out, a retry with the gradient filter) and why the arena looks
    implausible, if it does.
    """
    from ..io.output_dir import check_writable
    from ..io.report_figures import roi_overlay
    from ..io.tiff import write_arena_images
    from ..workflow import default_output_dir

    config = load_config(config_file, given)
    video = open_checked(config, input_file)
    output_dir = output_dir if output_dir is not None else default_output_dir(input_file)
    check_writable(output_dir)
    arena = config.build_extraction(video).find_roi()
    write_arena_images(output_dir, arena.background, arena.roi.mask, arena.first_frame)
    overlay = output_dir / "roi_overlay.png"
    import cv2

    cv2.imwrite(
        str(overlay), cv2.cvtColor(roi_overlay(arena.background, arena.roi.mask), cv2.COLOR_RGB2BGR)
    )
    rows, cols = video.get_image_size()
    depth_range = arena.roi.depth_range
    click.echo(f"arena: {int(arena.roi.mask.sum()):,} of {rows * cols:,} pixels")
    click.echo(f"  {'true depth':<18}{arena.roi.true_depth:.1f} mm")
    if depth_range is not None:
        click.echo(f"  {'depth range':<18}{depth_range[0]:.0f}-{depth_range[1]:.0f} mm")
    # What the arena step did beyond moseq2-extract's steps, and why the arena looks wrong
    # (also warned): recorded with the results as roi_notes and roi_problems.
    for label, texts in (("note", arena.roi.notes), ("implausible", arena.roi.problems)):
        for text in texts:
            click.echo(f"  {label:<18}{cli_words(text)}")
    animal = "not found in enough frames" if arena.animal is None else arena.animal.describe()
    click.echo(f"  {'animal':<18}{animal}")
    for name in ("bground.tiff", "roi.tiff", "first_frame.tiff", "roi_overlay.png"):
        click.echo(f"  {name:<18}{output_dir / name}")


@click.command(name="batch-extract")
@click.argument("input_folder", type=click.Path(path_type=Path))
@click.option(
    "--output-dir", default="proc", show_default=True,
    help="Results directory of each session, relative to its recording (the place extract "
    "gives it)",
)  # fmt: skip
@session_options
@click.option(
    "--skip-completed/--no-skip-completed", default=True, show_default=True,
    help="Leave sessions whose results are complete alone (interrupted ones are restarted)",
)  # fmt: skip
@click.option("--no-movie", is_flag=True, help="Do not write the preview movies.")
@click.option(
    "--extensions", multiple=True, default=None,
    help="File extensions of the recordings (repeat the option)  [default: .dat, .avi, .mkv, "
    ".bag, .tar.gz, .tgz]",
)  # fmt: skip
@click.option(
    "--n-jobs", type=click.IntRange(min=1), default=1, show_default=True,
    help="Sessions extracted at the same time on this machine (processes)",
)  # fmt: skip
@click.option(
    "--scheduler-address", default=None,
    help="Run the sessions on a Dask distributed cluster (e.g. tcp://host:8786; one started by "
    "dask-jobqueue for SLURM) instead of locally",
)  # fmt: skip
@click.option(
    "--summary-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Also write the summary table here  [default: batch-summary.tsv in INPUT_FOLDER]",
)  # fmt: skip
@config_options(("roi", "extract", "workflow"))
@reading_options
@moseq2_options("batch-extract")
@debug_option
def batch_extract(
    input_folder: Path, output_dir: str, config_file: Path | None, progress_bar: bool | None,
    skip_completed: bool, no_movie: bool, extensions: tuple[str, ...], n_jobs: int,
    scheduler_address: str | None, summary_file: Path | None, **given: Any,
) -> None:  # fmt: skip
    """Extract every recording found under INPUT_FOLDER, in parallel; resumable.

    Sessions are depth.dat, .avi, .mkv, .bag and .tar.gz recordings (never ir.*). Completed
    sessions are skipped, interrupted ones restarted; one failing session never stops the
    others. Each session gets extract.log; a summary table is printed and written. Exit code 1
    when any session failed.
    """
    from ..batch import DEFAULT_EXTENSIONS, find_sessions, run_batch

    existing(input_folder, "input folder")
    config = load_config(config_file, given)
    if no_movie:
        config = config.updated({"write_movie": False})
    configured = config.run_options.get("extensions")
    if not extensions:
        if isinstance(configured, str):
            configured = [configured]
        extensions = tuple(configured) if configured else DEFAULT_EXTENSIONS
    sessions = find_sessions(input_folder, extensions=extensions, output_dir_name=output_dir)
    if not sessions:
        raise InputError(
            f"no recordings with extensions {', '.join(extensions)} under {input_folder}"
        )
    click.echo(f"{len(sessions)} sessions under {input_folder}")
    summary = run_batch(
        sessions,
        config,
        n_jobs=n_jobs,
        scheduler_address=scheduler_address,
        skip_completed=skip_completed,
        progress=show_progress(progress_bar, config.run_options),
    )
    click.echo(summary.format_table())
    summary_path = summary_file or input_folder / "batch-summary.tsv"
    summary.write_tsv(summary_path)
    click.echo(f"summary: {summary_path}")
    if summary.failed:
        names = ", ".join(outcome.name for outcome in summary.failed)
        raise RunError(f"{len(summary.failed)} of {len(summary.outcomes)} sessions failed: {names}")
