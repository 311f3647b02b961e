"""Progress bars: on by default in a terminal, as the command line says otherwise."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios

import pytest

from depthextractors.cli.options import show_progress
from depthextractors.testing import generate_synthetic_session


def test_the_command_line_wins_then_the_config_then_the_terminal(monkeypatch):
    assert show_progress(True, {}) is True
    assert show_progress(False, {"progress_bar": True}) is False
    assert show_progress(None, {"progress_bar": True}) is True
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert show_progress(None, {}) is False
    assert show_progress(None, {"progress_bar": False}) is False
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert show_progress(None, {}) is True
    # moseq2-extract writes progress_bar: false into every config.yaml: not a reason to hide.
    assert show_progress(None, {"progress_bar": False}) is True


def run_in_terminal(*args: str, timeout: float = 240.0) -> str:
    """Run the command line with a pseudo-terminal as its stdout and stderr; its output."""
    leader, follower = pty.openpty()
    # 24 rows of 100 columns: a new pseudo-terminal has no size, and tqdm draws no bar in 0.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "depthextractors", *args],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], timeout)
        if not ready:
            process.kill()
            pytest.fail(f"no output for {timeout} s: {b''.join(chunks)[-2000:]!r}")
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert process.wait(timeout=timeout) == 0, b"".join(chunks)[-2000:]
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_extract_in_a_terminal_shows_a_progress_bar_unless_told_not_to(tmp_path):
    session = tmp_path / "session"
    generate_synthetic_session(session, 60, seed=3)
    fast = ["--no-movie", "--chunk-size", "20"]
    shown = run_in_terminal("extract", str(session), "--output-dir", "a", *fast)
    assert "60/60" in shown
    assert "Extracting" in shown
    assert "frame/s" in shown
    hidden = run_in_terminal(
        "extract", str(session), "--output-dir", "b", *fast, "--no-progress-bar"
    )
    assert "60/60" not in hidden
    assert "Extracting" not in hidden
