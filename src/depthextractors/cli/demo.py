"""``demo``: a synthetic session, extracted, with its report and NWB file."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import ExtractionConfig
from .extraction import echo_outputs
from .terminal import debug_option


@click.command()
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("depthextractors_demo"),
    show_default=True,
    help="Where the synthetic session and its results are written.",
)
@click.option("--num-frames", type=click.IntRange(min=10), default=900, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-movie", is_flag=True, help="Skip the preview movie.")
@debug_option
def demo(output_dir: Path, num_frames: int, seed: int, no_movie: bool) -> None:
    """Make a synthetic Kinect v2 session, extract it, and write the report and NWB file."""
    import numpy as np

    from ..extractors import open_depth_video
    from ..testing import generate_synthetic_session
    from ..workflow import extract_session

    session_dir = output_dir / "session"
    rows, cols = 424, 512  # Kinect v2, as generate_synthetic_session makes by default
    size_mb = num_frames * rows * cols * 2 / 1e6
    click.echo(
        f"1. Writing a synthetic session of {num_frames} frames ({size_mb:,.0f} MB, and its "
        f"results) to {session_dir.resolve()} (--output-dir to choose another folder) ..."
    )
    session = generate_synthetic_session(session_dir, num_frames, dropped_frames=3, seed=seed)
    video = open_depth_video(session_dir)
    rows, cols = video.get_image_size()
    times = video.get_timestamps()
    intervals = np.diff(times)
    gaps = int(np.sum(intervals > 1.5 * np.median(intervals))) if intervals.size else 0
    click.echo(f"  opened           {video.file_path} ({type(video).__name__})")
    click.echo(f"  camera           {video.camera.name} ({rows} x {cols} pixels)")
    click.echo(f"  frames           {video.get_num_frames()}")
    click.echo(f"  frame rate       {video.get_sampling_frequency():.3f} Hz")
    click.echo(f"  duration         {times[-1] - times[0]:.2f} s")
    click.echo(
        f"  timestamp gaps   {gaps} (dropped frames; {len(session.truth.dropped_after)} made)"
    )
    click.echo("2. Extracting the animal ...")
    config = ExtractionConfig(write_movie=not no_movie)
    outcome = extract_session(session_dir / "depth.dat", session_dir / "proc", config)
    click.echo(f"   {outcome.message} in {outcome.seconds:.1f} s")
    from ..io import read_results

    results = read_results(outcome.output_dir)
    truth = np.asarray(session.truth.centroid_px, dtype=float)
    found = results.valid
    if truth.shape[0] == len(results) and found.any():
        # centroid_*_px are relative to the ROI's bounding box (moseq2-extract's convention).
        roi_rows, roi_cols = np.nonzero(results.roi)
        errors = []
        for name in ("centroid", "body_centroid"):
            x = np.asarray(results.scalars[f"{name}_x_px"][:], dtype=float) + roi_cols.min()
            y = np.asarray(results.scalars[f"{name}_y_px"][:], dtype=float) + roi_rows.min()
            errors.append(np.median(np.hypot(x - truth[:, 0], y - truth[:, 1])[found]))
        click.echo(
            f"   centroid error vs ground truth: median {errors[0]:.2f} px (moseq2's "
            f"centroid_x_px), {errors[1]:.2f} px (body_centroid_x_px)"
        )
    click.echo("3. Outputs:")
    echo_outputs(outcome)
    written = results.to_nwb(
        outcome.output_dir / "results_00.nwb",
        subject={"species": "Mus musculus", "age": "P90D", "sex": "M"},
        overwrite=True,
    )
    click.echo(f"  {'nwb':<8} {written}")
    click.echo(f"Open {outcome.outputs.get('report', outcome.output_dir)} in a browser to look.")
