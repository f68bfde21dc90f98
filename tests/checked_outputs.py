"""Copy the outputs of the `# NBVAL_CHECK_OUTPUT` cells from executed copies of the notebooks
(papermill's, in _build/ci) into the committed notebooks, after a change that meant to change
what those cells print. Every other cell stays without output.

    python tests/checked_outputs.py _build/ci book/[0-9]*.ipynb
"""
import sys
from pathlib import Path

import nbformat

CHECK = "# NBVAL_CHECK_OUTPUT"


def copy_checked(executed: Path, committed: Path) -> int:
    ran = nbformat.read(executed, as_version=4)
    outputs = {c.source: c for c in ran.cells if c.cell_type == "code"}
    nb = nbformat.read(committed, as_version=4)
    n = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK in cell.source.splitlines():
            done = outputs[cell.source]
            cell.outputs, cell.execution_count = done.outputs, done.execution_count or 1
            n += 1
    nbformat.write(nb, committed)
    return n


if __name__ == "__main__":
    folder, *notebooks = sys.argv[1:]
    for path in map(Path, notebooks):
        print(f"{path.name}: {copy_checked(Path(folder) / path.name, path)} checked cell(s)")
