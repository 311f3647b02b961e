"""Read a depth session lazily: open, slice, iterate in chunks, look at times and the camera.

Run it with ``python examples/read_a_session.py [session_dir]``; without an argument it first
makes a small synthetic Kinect v2 session in a temporary folder.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from depthextractors import open_depth_video
from depthextractors.testing import generate_synthetic_session


def main(session_dir: Path) -> None:
    video = open_depth_video(session_dir)
    rows, cols = video.get_image_size()
    print(f"{video}: camera {video.camera.name}, {rows}x{cols} pixels")

    # A lazy view of the middle of the session; nothing is read until frames are asked for.
    clip = video.frame_slice(video.get_num_frames() // 4, 3 * video.get_num_frames() // 4)
    print(f"clip: frames {clip.start_frame}..{clip.end_frame} of the session")

    # Stream the clip in chunks, as an extraction does, keeping memory bounded.
    closest = []
    for chunk in clip.iter_chunks(chunk_size=64):
        frames = chunk.new_frames
        valid = np.where(frames > 0, frames, np.iinfo(np.uint16).max)
        closest.append(valid.reshape(len(frames), -1).min(axis=1))
    closest = np.concatenate(closest)
    print(f"closest point to the camera per frame: {closest.min()}..{closest.max()} mm")

    # Times come from depth_ts.txt; gaps mean dropped frames.
    times = clip.get_timestamps()
    intervals = np.diff(times)
    dropped = np.flatnonzero(intervals > 1.5 * np.median(intervals))
    print(f"clip lasts {times[-1] - times[0]:.2f} s; gaps after clip frames {dropped.tolist()}")

    # Pixel size on a floor 680 mm away, for converting positions to millimetres.
    mm_x, mm_y = video.camera.mm_per_pixel(680.0)
    print(f"a pixel on the floor is {mm_x:.2f} x {mm_y:.2f} mm")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            generate_synthetic_session(folder, 300, dropped_frames=3, seed=0)
            main(Path(folder))
