"""Drop the executed pages that the code or data behind them has made stale.

Jupyter Book's execution cache (jupyter-cache) is keyed on a notebook's own code alone, so
after a change to `mnistlib/` or `results/` it would serve the old outputs. Before each build,
`book/build.sh` runs this script: every page gets a digest of what its outputs depend on (the
source of every `mnistlib` module it imports, and what those import; the files in `results/`
when the page reads them; the requirements; the profile and device of the build), and a page
whose digest changed since its outputs were cached loses its cache record, so the build
executes it again. A rebuild with nothing changed executes nothing.

    python book/stale.py CACHE STAMPS RUN_KEY NOTEBOOK...
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
from jupyter_cache import get_cache

from mnistlib.provenance import closure, digest, imported_modules

ROOT = Path(__file__).resolve().parent.parent


def page_digest(path: Path, run_key: str, root: Path = ROOT) -> str:
    """The digest of what the page's outputs depend on (see the module docstring)."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    files = closure(imported_modules(code) | {"mnistlib"}) + [root / "requirements.txt"]
    if "results" in code:
        files += sorted((root / "results").glob("*"))
    return digest([f for f in files if f.is_file()], {"run": run_key})


def drop_stale(cache_path: Path, stamps_path: Path, run_key: str, notebooks: list[Path]
               ) -> list[Path]:
    """Remove the cache records of pages whose digest changed; return those pages."""
    cache = get_cache(str(cache_path))
    stamps = json.loads(stamps_path.read_text()) if stamps_path.is_file() else {}
    stale = []
    for path in notebooks:
        now = page_digest(path, run_key)
        if stamps.get(path.name) != now:
            stale.append(path)
            try:
                record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
            except KeyError:  # not cached: it will be executed anyway
                pass
            else:
                cache.remove_cache(record.pk)
        stamps[path.name] = now
    stamps_path.parent.mkdir(parents=True, exist_ok=True)
    stamps_path.write_text(json.dumps(stamps, indent=1) + "\n")
    return stale


if __name__ == "__main__":
    cache_dir, stamps_file, key, *pages = sys.argv[1:]
    dropped = drop_stale(Path(cache_dir), Path(stamps_file), key, [Path(p) for p in pages])
    print("pages to execute again: " + (", ".join(p.name for p in dropped) or "none"))
