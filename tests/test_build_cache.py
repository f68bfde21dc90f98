"""The book's build cache knows the library: a page whose mnistlib code changed is executed
again, an unchanged one is not (book/stale.py, run by book/build.sh before every build)."""
import importlib.util
import shutil
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

from mnistlib import provenance

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("stale", ROOT / "book" / "stale.py")
stale = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stale)


def page(tmp_path: Path, name: str, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok\n")]
    nb.cells[0].execution_count = 1
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def cached(cache, path: Path) -> bool:
    """Would myst-nb take this page from the cache (True) or execute it (False)?"""
    try:
        cache.match_cache_notebook(nbformat.read(path, as_version=4))
        return True
    except KeyError:
        return False


def test_a_library_change_executes_again_the_pages_that_import_it(tmp_path, monkeypatch):
    package = tmp_path / "mnistlib"
    shutil.copytree(provenance.PACKAGE, package)
    monkeypatch.setattr(provenance, "PACKAGE", package)
    flops = page(tmp_path, "a.ipynb", "from mnistlib.flops import count_flops\nprint('ok')")
    plots = page(tmp_path, "b.ipynb", "from mnistlib import plots\nprint('ok')")
    cache = get_cache(str(tmp_path / "cache"))
    for p in (flops, plots):
        cache.cache_notebook_file(str(p), check_validity=False)
    stamps, pages = tmp_path / "stamps.json", [flops, plots]

    def build(key: str = "cpu cpu") -> list[str]:
        return [p.name for p in stale.drop_stale(tmp_path / "cache", stamps, key, pages)]

    assert build() == ["a.ipynb", "b.ipynb"]   # no stamps yet: nothing is trusted
    for p in pages:
        cache.cache_notebook_file(str(p), check_validity=False)   # the build executed both
    assert build() == [] and cached(cache, flops) and cached(cache, plots)  # nothing changed
    # every page imports the package (and so its core); flops.py only a.ipynb does
    flops_py = package / "flops.py"
    flops_py.write_text(flops_py.read_text() + "\n# a change\n")
    assert build() == ["a.ipynb"]
    assert not cached(cache, flops) and cached(cache, plots)
    cache.cache_notebook_file(str(flops), check_validity=False)
    training = package / "training.py"   # the core: every page
    training.write_text(training.read_text() + "\n# a change\n")
    assert build() == ["a.ipynb", "b.ipynb"]
    # another profile makes every page stale
    cache.cache_notebook_file(str(flops), check_validity=False)
    assert build("ci cpu") == ["a.ipynb", "b.ipynb"]


def test_a_page_that_reads_results_depends_on_them(tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    (results / "cpu.json").write_text("[]")
    (tmp_path / "requirements.txt").write_text("torch\n")
    reader = page(tmp_path, "r.ipynb", "import json\njson.load(open('../results/cpu.json'))")
    before = stale.page_digest(reader, "cpu cpu", root=tmp_path)
    (results / "cpu.json").write_text("[{}]")
    assert stale.page_digest(reader, "cpu cpu", root=tmp_path) != before


def test_a_magic_inside_a_block_is_read_as_the_block_s_body():
    code = ('if importlib.util.find_spec("google.colab"):\n    %pip install -q mnistlib\n'
            '    !nvidia-smi\nfrom mnistlib import plots\n')
    assert provenance.imported_modules(code) == {"mnistlib", "mnistlib.plots"}


@pytest.mark.parametrize("notebook", sorted((ROOT / "book").glob("[0-9]*.ipynb")),
                         ids=lambda p: p.name)
def test_every_page_of_the_book_gets_a_digest(notebook):
    """book/build.sh stamps every page before it builds: none may fail to parse."""
    assert len(stale.page_digest(notebook, "cpu cpu")) == 64
