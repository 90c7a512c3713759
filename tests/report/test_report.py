import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from reprolab.report import write_report  # noqa: E402
from reprolab.runtime.claims import Claim  # noqa: E402
from reprolab.runtime.results import RunResult  # noqa: E402


def _sample_run(folder, method, finished, holds):
    folder.mkdir(parents=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(folder / "plot.png")
    plt.close(fig)
    RunResult(method=method, scale="quick", seeds=[0], device="cpu", config={},
              claims=[Claim("c", "a < b", {"a": 1.0}, "|a| < b", holds)], timings={"total_s": 3.0},
              finished_at=finished, artifacts=["plot.png"]).save(folder)


def test_report_renders_newest_run_per_method(tmp_path):
    _sample_run(tmp_path / "nc" / "old", "neural_collapse", "2026-01-01T00:00:00+00:00", holds=False)
    _sample_run(tmp_path / "nc" / "new", "neural_collapse", "2026-02-01T00:00:00+00:00", holds=True)
    _sample_run(tmp_path / "other", "mad", "2026-01-01T00:00:00+00:00", holds=False)
    md, html = write_report(tmp_path)
    page = html.read_text()
    assert page.count("<h2") == 2 and "data:image/png;base64," in page
    assert "class='holds'>holds" in page and "class='fails'>fails" in page  # nc new holds, mad fails
    assert "nc/new/plot.png" in md.read_text() and "nc/old" not in md.read_text()
    rows = [line for line in md.read_text().splitlines() if line.startswith("| c |")]
    assert rows and all(row.replace("\\|", "").count("|") == 5 for row in rows)  # a "|" in a cell is escaped
    assert oct(html.stat().st_mode & 0o777) == "0o644"


def test_report_without_results_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no result.json"):
        write_report(tmp_path)
