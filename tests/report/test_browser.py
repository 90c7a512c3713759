"""The HTML report as a real browser shows it: headless Chromium (Debian's `chromium`, installed by
`make test-slow` when running as root)."""

import shutil
import subprocess

import numpy as np
import pytest
from matplotlib import image

from reprolab.report import write_report
from reprolab.report.figures import learning_curve_panels
from reprolab.runtime.claims import Claim
from reprolab.runtime.results import RunResult

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (`make test-slow` installs it as root)")]


def _headless(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report of one run with a six-panel learning-curve figure and a claim observed over two datasets."""
    runs = tmp_path_factory.mktemp("runs")
    folder = runs / "balanced_q"
    folder.mkdir()
    curve = {"mean": list(np.linspace(0, 1, 20)), "se": [0.05] * 20}
    learning_curve_panels({f"env{i}": {"dqn": curve, "balanced_dqn": curve} for i in range(6)},
                          folder / "plot_deep.png")
    observed = {"mnist": {"mad": 0.91, "base": 0.9}, "cifar10": {"mad": 0.5, "base": 0.6}}
    RunResult(method="balanced_q", scale="quick", seeds=[0], device="cpu", config={},
              claims=[Claim("beats_base", "the method beats its baseline on every dataset", observed,
                            "mad >= base", "reproduction", "fails")],
              timings={"total_s": 95.0}, finished_at="2026-01-01T00:00:00+00:00",
              artifacts=["plot_deep.png"]).save(folder)
    return write_report(runs)


def test_the_browser_renders_the_overview_and_nested_claim_tables(report):
    dom = _headless("--dump-dom", report.html.as_uri()).stdout
    assert "<table class=\"overview\">" in dom and "<a href=\"#balanced_q\">balanced_q</a>" in dom
    assert dom.count("<table class=\"obs\">") == 3                        # the record and its two datasets


def test_a_screenshot_shows_the_page_and_six_panels_in_readable_rows(report, tmp_path):
    shot = tmp_path / "report.png"
    _headless(f"--screenshot={shot}", "--window-size=1280,1600", report.html.as_uri())
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (1600, 1280) and pixels[..., :3].std() > 0.05    # drawn, not a blank page
    panels = image.imread(report.html.parent / "balanced_q" / "plot_deep.png")
    height, width = panels.shape[:2]
    assert width <= 1300 and height > width / 2          # three panels a row, two rows: not one thin strip
