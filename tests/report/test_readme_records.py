"""The README results tables are generated from the committed quick records, one `reprolab run all --scale quick`
(`results/quick/<method>/result.json`), by `reprolab report results/quick --write-readmes`: a table edited by hand,
or a record replaced without regenerating the tables, fails here."""

from pathlib import Path

import pytest

from reprolab.launch import runnable_quick_methods
from reprolab.report import collect_results, method_table, readme_table
from reprolab.report.render import replace_results

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "results" / "quick"
METHODS = ROOT / "src" / "reprolab" / "methods"


@pytest.fixture(scope="module")
def records():
    results, skipped = collect_results(RECORDS)
    assert not skipped
    return {result.method: (folder, result) for folder, result in results}


def test_every_quick_method_has_one_quick_record(records):
    assert sorted(records) == sorted(runnable_quick_methods())
    assert {result.scale for _, result in records.values()} == {"quick"}


def test_the_top_readme_table_is_the_records_table(records):
    text = (ROOT / "README.md").read_text()
    assert replace_results(text, readme_table(list(records.values())), "README.md") == text


@pytest.mark.parametrize("method", sorted(runnable_quick_methods()))
def test_each_method_readme_table_is_its_records_table(records, method):
    path = METHODS / method / "README.md"
    text = path.read_text()
    assert replace_results(text, method_table(*records[method]), str(path)) == text
