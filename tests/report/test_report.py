import dataclasses
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from typer.testing import CliRunner  # noqa: E402

from reprolab.cli import app  # noqa: E402
from reprolab.report import write_report  # noqa: E402
from reprolab.runtime.claims import Claim  # noqa: E402
from reprolab.runtime.results import RunResult  # noqa: E402


def _sample_run(folder, method, finished, holds, observed=None, kind="reproduction"):
    folder.mkdir(parents=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(folder / "plot.png")
    plt.close(fig)
    RunResult(method=method, scale="quick", seeds=[0], device="cpu", config={},
              claims=[Claim("c", "a < b", observed or {"a": 1.0}, "|a| < b", kind, "holds" if holds else "fails")],
              timings={"total_s": 3.0},
              finished_at=finished, artifacts=["plot.png"]).save(folder)


def test_report_renders_newest_run_per_method(tmp_path):
    _sample_run(tmp_path / "nc" / "old", "neural_collapse", "2026-01-01T00:00:00+00:00", holds=False)
    _sample_run(tmp_path / "nc" / "new", "neural_collapse", "2026-02-01T00:00:00+00:00", holds=True)
    _sample_run(tmp_path / "other", "mad", "2026-01-01T00:00:00+00:00", holds=False)
    md, html, skipped = dataclasses.astuple(write_report(tmp_path))
    page = html.read_text()
    assert skipped == []
    assert page.count("<h2") == 2 and "data:image/png;base64," in page
    assert "class='holds'>holds" in page and "class='fails'>fails" in page  # nc new holds, mad fails
    assert "nc/new/plot.png" in md.read_text() and "nc/old" not in md.read_text()
    rows = [line for line in md.read_text().splitlines() if line.startswith("| c |")]
    assert rows and all(row.replace("\\|", "").count("|") == 7 for row in rows)  # a "|" in a cell is escaped
    assert oct(html.stat().st_mode & 0o777) == "0o644"


def test_report_without_results_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no readable result.json"):
        write_report(tmp_path)


def test_report_opens_with_an_overview_and_shows_records_as_nested_tables(tmp_path):
    observed = {"mnist": {"acc": 0.91234567, "base": 0.9}, "cifar10": {"acc": 0.5, "base": 0.6}}
    _sample_run(tmp_path / "mad", "mad", "2026-01-01T00:00:00+00:00", holds=False, observed=observed)
    _sample_run(tmp_path / "nc", "neural_collapse", "2026-01-01T00:00:00+00:00", holds=True)
    report = write_report(tmp_path)
    md = report.markdown.read_text().splitlines()
    assert md[2] == ("| method | scale | device | reproductions: hold / fail / inconclusive / no signal | checks held "
                     "| wall time |")
    assert md[4] == "| [mad](#mad) | quick | cpu | 0 / 1 / 0 / 0 | 0/0 | 3 s |" and md[5].startswith("| [neural_")
    claim_row = next(line for line in md if line.startswith("| c |"))
    assert "mnist: acc=0.9123, base=0.9<br>cifar10: acc=0.5, base=0.6" in claim_row
    page = report.html.read_text()
    assert "<a href='#mad'>mad</a>" in page and "<td>0 / 1 / 0 / 0</td>" in page
    assert ("<table class='obs'><tr><th>mnist</th><td><table class='obs'><tr><th>acc</th><td>0.9123</td></tr>"
            in page)


def test_a_malformed_result_is_skipped_with_its_path_and_the_rest_reported(tmp_path):
    _sample_run(tmp_path / "good", "mad", "2026-01-01T00:00:00+00:00", holds=True)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "result.json").write_text('{"method": "mad", "claims": [')
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "result.json").write_text(json.dumps({"method": "mbec"}))
    report = write_report(tmp_path)
    broken, partial = report.skipped
    assert broken.startswith(f"{tmp_path / 'broken' / 'result.json'} is not valid JSON: Expecting value")
    assert partial.startswith(f"{tmp_path / 'partial' / 'result.json'}: ValueError: result record lacks")
    assert "## mad" in report.markdown.read_text()
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0 and f"warning: skipped {tmp_path / 'broken' / 'result.json'} is not valid JSON" in \
        result.output and "Traceback" not in result.output


def test_the_readme_table_counts_reproductions_by_verdict_and_checks_apart(tmp_path):
    _sample_run(tmp_path / "mad", "mad", "2026-01-01T10:20:00+00:00", holds=False)
    _sample_run(tmp_path / "nc", "neural_collapse", "2026-01-02T00:00:00+00:00", holds=True, kind="check")
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--readme-table"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[2] == "| mad | 0 / 1 / 0 / 0 | 0/0 | 3 s | cpu | 2026-01-01 10:20 |"
    assert lines[3] == "| neural_collapse | 0 / 0 / 0 / 0 | 1/1 | 3 s | cpu | 2026-01-02 00:00 |"
    assert lines[4] == "| **all** | 0 / 1 / 0 / 0 | 1/1 | 6 s | | |"
    assert not (tmp_path / "report.md").exists()               # the table is printed, no report written


def test_the_method_table_shows_each_claims_kind_verdict_and_interval(tmp_path):
    from reprolab.runtime.claims import compare

    folder = tmp_path / "mad"
    folder.mkdir()
    claims = [compare("mad_beats_dfad", "s", [0.61, 0.55, 0.66], [0.60, 0.50, 0.62], arms=("mad", "dfad"),
                      source="paper states no size"),
              Claim.check("teacher_trained", "s", {"accuracy": 0.99}, ">= 0.98", True)]
    RunResult(method="mad", scale="quick", seeds=[0, 1, 2], device="cpu", config={}, claims=claims,
              timings={"total_s": 75.0}, finished_at="2026-01-01T10:20:00+00:00",
              versions={"cpu": "AMD EPYC"}).save(folder)
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--method-table"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == ("`reprolab run mad --scale quick`, finished 2026-01-01 10:20 UTC on cpu (AMD EPYC), 75 s; "
                        "reproductions: 0 hold, 0 fail, 1 inconclusive, 0 no signal; checks 1/1.")
    row = lines[4]
    assert row.startswith("| `mad_beats_dfad` | reproduction | inconclusive | mad 0.6067; dfad 0.5733; difference "
                          "0.0333 [-0.0184, 0.085] over 3 seeds; 6 seeds would decide |")
    assert lines[5] == "| `teacher_trained` | check | holds | accuracy=0.99 | >= 0.98 |"


def test_write_readmes_replaces_only_the_results_blocks(tmp_path):
    from reprolab.report import collect_results, write_readmes
    from reprolab.report.render import RESULTS_END, RESULTS_START

    _sample_run(tmp_path / "runs" / "mad", "mad", "2026-01-01T10:20:00+00:00", holds=False)
    top, method = tmp_path / "README.md", tmp_path / "methods" / "mad" / "README.md"
    method.parent.mkdir(parents=True)
    top.write_text(f"# top\n\n{RESULTS_START}\nold table\n{RESULTS_END}\n\n## Using it\n")
    method.write_text(f"# mad\n\n## Results\n\n{RESULTS_START}\nold\n{RESULTS_END}\n\n## Deviations\n")
    results, _ = collect_results(tmp_path / "runs")
    assert write_readmes(results, top, tmp_path / "methods") == [top, method]
    text = top.read_text()
    assert "old table" not in text and "| mad | 0 / 1 / 0 / 0 | 0/0 | 3 s |" in text and text.endswith("## Using it\n")
    text = method.read_text()
    assert text.startswith("# mad\n\n## Results\n\n") and "`reprolab run mad --scale quick`" in text
    assert "| `c` | reproduction | fails |" in text and text.endswith(f"{RESULTS_END}\n\n## Deviations\n")
    method.write_text("# mad without markers\n")
    with pytest.raises(ValueError, match="has no results block"):
        write_readmes(results, top, tmp_path / "methods")


def test_the_paired_units_ids_are_not_shown_as_an_arm_mean():
    from reprolab.report.render import claim_numbers
    from reprolab.runtime.claims import compare

    claim = compare("c", "a beats b", [1.0, 2.0, 3.0], [0.5, 1.5, 2.0], arms=("a", "b"), delta=0.0,
                    source="paper states no size", extra={"seeds": [0, 1, 2]})
    text = claim_numbers(claim)
    assert text.startswith("a 2; b 1.333; difference 0.667") and "seeds 1" not in text and "over 3 seeds" in text


def test_the_arms_are_those_the_claim_records_and_never_its_extras():
    """compare / equivalent / reaches record their arms first in `observed`; numeric extras after the interval (the
    old guess showed them as arms) are not, also after a JSON round trip of the record."""
    from reprolab.report.render import claim_arms, claim_numbers
    from reprolab.runtime.claims import compare, equivalent, reaches

    extra = {"IF": [0.9, 0.8, 0.7], "n_layers": [3, 3, 3], "seeds": [0, 1, 2]}
    claims = [compare("c", "a beats b", [1.0, 2.0, 3.0], [0.5, 1.5, 2.0], arms=("a", "b"), delta=0.0, source="s",
                      extra=extra),
              equivalent("e", "a matches b", [1.0, 2.0, 3.0], [1.0, 2.5, 3.0], arms=("a", "b"), margin=0.5,
                         source="s", unit="fold", extra=extra),
              reaches("r", "a reaches 0.5", [1.0, 2.0, 3.0], threshold=0.5, source="s", metric="a", extra=extra)]
    for claim in claims:
        back = Claim.from_dict(json.loads(json.dumps(claim.to_dict())))
        assert claim_arms(back.observed) == (["a"] if claim.name == "r" else ["a", "b"])
        text = claim_numbers(back)
        assert "IF" not in text and "n_layers" not in text and "seeds 1" not in text
    assert claim_numbers(claims[0]).startswith("a 2; b 1.333; difference 0.667")
    assert claim_numbers(claims[1]).startswith("a 2; b 2.167; difference -0.167") and "over 3 folds" in \
        claim_numbers(claims[1])
    assert claim_numbers(claims[2]).startswith("a 2; difference 1.5") and "over 3 seeds" in claim_numbers(claims[2])


def test_the_method_table_names_the_cpu_kernels_where_the_record_has_them(tmp_path):
    folder = tmp_path / "mad"
    folder.mkdir()
    RunResult(method="mad", scale="quick", seeds=[0], device="cpu", config={}, claims=[],
              timings={"total_s": 75.0}, finished_at="2026-01-01T10:20:00+00:00",
              versions={"cpu": "AMD EPYC", "cpu_kernels": "AVX2"}).save(folder)
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--method-table"])
    assert "on cpu (AMD EPYC, AVX2 kernels), 75 s" in result.output.splitlines()[0]

