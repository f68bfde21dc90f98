"""The README's headline tables are the committed benchmark results, not a copy typed by hand."""
from pathlib import Path

from mnistlib.benchmarking import HEADLINE_END, HEADLINE_START, load_results, readme_tables

ROOT = Path(__file__).resolve().parent.parent


def test_readme_headline_matches_the_committed_results():
    results = load_results(ROOT / "results")
    assert results, "results/ holds no benchmark file"
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(HEADLINE_START) + len(HEADLINE_START):readme.index(HEADLINE_END)]
    assert section.strip() == readme_tables(results), (
        "the README's headline table is stale: run `python -m mnistlib headline`")
