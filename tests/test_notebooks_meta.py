"""The book's notebooks follow the house rules, checked in a second without running them.

Executing them is the integration test (tests/run.sh); this catches, before a long run, a
missing parameters cell, a number typed into prose, a glued key that no cell glues, a citation
missing from references.bib, or a checked cell whose stored output was lost.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("[0-9]*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"

# A figure typed into prose: a decimal, a number with thousands separators, or a number with a
# unit of time, a ratio or a count. Integer percentages (targets such as "98 %") and
# dimensions ("28×28") are allowed.
TYPED = re.compile(
    r"\d+\.\d+|\d{1,3}(?:,\d{3})+|\d+\s*(?:s|ms|sec|seconds?|minutes?|min|hours?|epochs?|"
    r"images|parameters|errors|times)\b|\d+\s*(?:×|x\b)(?!\s*\d)", re.IGNORECASE)
ROLE = re.compile(r"\{[\w:-]+\}`[^`]*`")  # {glue:text}`key:.2f`, {cite}`key`, {doc}`…`


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _key_pattern(node: ast.expr) -> str | None:
    """A glued key as a regex: a string constant, or an f-string whose fields match words."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(re.escape(v.value) if isinstance(v, ast.Constant) else r"\w+"
                       for v in node.values)
    return None


def glued_keys(nb) -> list[re.Pattern]:
    """Patterns of the keys the notebook's cells glue with ``mnistlib.chapter``: ``glue(a=…)``,
    ``glue(**{"key": …, f"a_{x}": …})``, and ``start(profile, device, run, b=…)``, which glues
    ``profile``, ``device_name`` and ``profile_run`` too."""
    patterns = []
    for cell in code_cells(nb):
        source = re.sub(r"^(\s*)%.*$", r"\1pass", cell.source, flags=re.M)  # IPython magics
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call) or getattr(node.func, "id", "") not in ("glue",
                                                                                    "start"):
                continue
            if node.func.id == "start":
                patterns += ["profile", "device_name", "profile_run"]
            for k in node.keywords:
                if k.arg:
                    patterns.append(re.escape(k.arg))
                elif isinstance(k.value, ast.Dict):  # glue(**{key: value, …})
                    patterns += [p for p in map(_key_pattern, k.value.keys) if p]
    return [re.compile(p) for p in patterns]


def is_glued(key: str, patterns: list[re.Pattern]) -> bool:
    return any(p.fullmatch(key) for p in patterns)


def glue_refs(text: str) -> list[tuple[str, str]]:
    """(document, key) of every glue role; document '' for the same page."""
    refs = []
    for body in re.findall(r"\{glue(?::\w+)?\}`([^`]*)`", text):
        doc, _, key = body.rpartition("::")
        refs.append((doc, key.split(":")[0]))
    return refs


def prose(text: str) -> str:
    """Markdown without code, roles, math, links' targets and labels."""
    text = re.sub(r"```.*?```|:::.*?\n|`[^`]*`", " ", ROLE.sub(" ", text), flags=re.S)
    text = re.sub(r"\$[^$]*\$|\]\([^)]*\)|^\(.*\)=$", " ", text, flags=re.M)
    return text


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_the_book_loads_no_script_from_the_network(config: dict) -> None:
    """MathJax from the build, and no ipywidgets JavaScript (myst-nb's default is two CDNs)."""
    sphinx = config["sphinx"]["config"]
    assert not sphinx["mathjax_path"].startswith(("http:", "https:", "//"))
    assert sphinx.get("nb_ipywidgets_js") == {}


def test_every_notebook_is_a_chapter_of_the_book() -> None:
    toc = (ROOT / "_toc.yml").read_text()
    assert NOTEBOOKS, "no notebooks in book/"
    for path in NOTEBOOKS:
        assert f"book/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_imports_then_parameters(path: Path, config: dict) -> None:
    nb = nbformat.read(path, as_version=4)
    first, second = code_cells(nb)[:2]
    assert re.search(r"^(import|from) ", first.source, re.M), "first code cell: the imports"
    assert "google.colab" in first.source and config["repository"]["url"] in first.source, \
        "the imports cell installs mnistlib on Colab from the repository named in _config.yml"
    assert "parameters" in second.metadata.get("tags", []), "second code cell: tagged parameters"
    names = {t.id for node in ast.walk(ast.parse(second.source)) if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert {"profile", "device"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_parameters_cell_defaults_to_the_machine(path: Path) -> None:
    """A reader who opens a chapter on a laptop starts the profile that fits it, not `full`."""
    params = code_cells(nbformat.read(path, as_version=4))[1].source
    assert "default_profile()" in params and '"full"' not in params


def test_notebooks_use_the_library_instead_of_copies() -> None:
    """The chapter harness, the splits and the runner live in mnistlib: a notebook defines few
    functions of its own (the house limit is eight in all), never its own glue helper, and never
    builds an MNIST object by hand."""
    defs = {}
    for path in NOTEBOOKS:
        for cell in code_cells(nbformat.read(path, as_version=4)):
            tree = ast.parse(re.sub(r"^(\s*)%.*$", r"\1pass", cell.source, flags=re.M))
            defs[path.name] = defs.get(path.name, []) + [
                n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef,
                                                                 ast.AsyncFunctionDef))]
            assert "MNIST(" not in cell.source, f"{path.name} builds an MNIST by hand"
    every = [f"{nb}:{name}" for nb, names in defs.items() for name in names]
    assert len(every) <= 8, f"functions defined in notebooks: {every}"
    assert not any(name == "glue_all" for names in defs.values() for name in names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_figures_typed_into_prose(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    typed = [m.group() for c in nb.cells if c.cell_type == "markdown"
             for m in TYPED.finditer(prose(c.source))]
    assert not typed, f"numbers typed into markdown (glue them instead): {typed}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_reference_is_glued(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    keys = glued_keys(nb)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    missing = {k for doc, k in glue_refs(text) if not doc and not is_glued(k, keys)}
    assert not missing, f"{path.name}: glue roles with no glue(...) call: {sorted(missing)}"


def test_intro_glues_from_existing_keys() -> None:
    text = (BOOK / "intro.md").read_text()
    for doc, key in glue_refs(text):
        assert doc, f"intro.md: {key!r} must name its notebook (path::key)"
        assert ":" in text.split(f"{doc}::{key}", 1)[1][:1], \
            f"intro.md: {doc}::{key} needs a format (:s, :.2f …) for myst-nb to parse it"
        nb = nbformat.read(BOOK / doc, as_version=4)
        assert is_glued(key, glued_keys(nb)), f"intro.md: {doc} glues no {key!r}"


def test_citations_are_in_references_bib() -> None:
    bib = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "references.bib").read_text()))
    sources = [(BOOK / "intro.md").read_text()] + [
        "\n".join(c.source for c in nbformat.read(p, as_version=4).cells) for p in NOTEBOOKS]
    cited = {k.strip() for s in sources for keys in re.findall(r"\{cite(?::\w+)?\}`([^`]*)`", s)
             for k in keys.split(",")}
    assert cited, "no citations found"
    assert cited <= bib, f"cited but not in references.bib: {sorted(cited - bib)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_cleared_except_checked_cells(path: Path) -> None:
    """Checked cells keep the output nbval compares against (and an execution count, without
    which nbval silently skips them); every other cell is committed without output."""
    nb = nbformat.read(path, as_version=4)
    checked = [c for c in code_cells(nb) if CHECK in c.source.splitlines()]
    assert checked, f"{path.name} has no {CHECK} cell"
    for c in code_cells(nb):
        if c in checked:
            assert c.outputs and c.execution_count is not None, \
                f"checked cell lost its stored output: {c.source[:60]!r}"
            assert all(o.output_type != "error" for o in c.outputs)
        else:
            assert not c.outputs, f"commit notebooks with outputs cleared: {c.source[:60]!r}"
