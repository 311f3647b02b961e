import subprocess
import sys

from click.testing import CliRunner

from depthextractors import __version__
from depthextractors.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_demo_makes_and_reads_a_session(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--output-dir", str(tmp_path), "--num-frames", "60"])
    assert result.exit_code == 0, result.output
    assert "kinect_v2 (424 x 512 pixels)" in result.output
    assert "frames           60" in result.output
    assert (tmp_path / "session" / "depth.dat").stat().st_size == 60 * 424 * 512 * 2


def test_demo_rejects_bad_numbers(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--output-dir", str(tmp_path), "--num-frames", "2"])
    assert result.exit_code == 2
    assert "num-frames" in result.output


def test_console_script_is_installed():
    completed = subprocess.run(
        [sys.executable, "-m", "depthextractors", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "demo" in completed.stdout
