"""The ``depthextractors`` command line."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from . import __version__
from .extractors import open_depth_video


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="depthextractors")
def main() -> None:
    """Read depth-camera recordings and extract the animal from them (MoSeq extraction)."""


@main.command()
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("depthextractors_demo"),
    show_default=True,
    help="Where the synthetic session is written.",
)
@click.option("--num-frames", type=click.IntRange(min=10), default=900, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(output_dir: Path, num_frames: int, seed: int) -> None:
    """Make a synthetic Kinect v2 session and read it back through the extractor interface."""
    from .testing import generate_synthetic_session

    session_dir = output_dir / "session"
    click.echo(f"Writing a synthetic session of {num_frames} frames to {session_dir} ...")
    session = generate_synthetic_session(session_dir, num_frames, dropped_frames=3, seed=seed)
    video = open_depth_video(session_dir)
    rows, cols = video.get_image_size()
    times = video.get_timestamps()
    intervals = np.diff(times)
    gaps = int(np.sum(intervals > 1.5 * np.median(intervals))) if intervals.size else 0
    first = video.get_video(0, 1)[0]
    valid = first[first > 0]
    click.echo(f"Opened {video.file_path} with {type(video).__name__}")
    click.echo(f"  camera           {video.camera.name} ({rows} x {cols} pixels)")
    click.echo(f"  frames           {video.get_num_frames()}")
    click.echo(f"  frame rate       {video.get_sampling_frequency():.3f} Hz")
    click.echo(f"  duration         {times[-1] - times[0]:.2f} s")
    click.echo(
        f"  timestamp gaps   {gaps} (dropped frames; {len(session.truth.dropped_after)} made)"
    )
    click.echo(
        f"  frame 0 depth    {valid.min()}..{valid.max()} mm, median {np.median(valid):.0f} mm"
    )
    click.echo(f"  invalid pixels   {100 * np.mean(first == 0):.2f}% of frame 0")
