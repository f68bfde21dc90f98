"""nbval without a second execution: papermill runs each notebook once, nbval checks that run.

``tests/run.sh`` executes every notebook in ``book/`` with papermill (the ``ci`` profile
injected as a parameter) and keeps the executed copies in ``_build/ci/``. nbval then validates
the committed notebooks against those copies. This pytest plugin gives nbval a kernel that
runs no code: it replays, cell by cell, the outputs papermill recorded. Everything else is
nbval's own: which cells it compares (``# NBVAL_CHECK_OUTPUT`` under ``--nbval-lax``), how it
compares them with the outputs stored in the committed notebook, and failing on a cell that
raised. A cell papermill did not reach, or whose source differs from the committed one, fails.

    python -m pytest -p tests.nbreplay --nbval-lax --nbval-replay _build/ci book/*.ipynb

Without ``--nbval-replay`` nbval runs as usual and executes the notebooks itself.

The same file refreshes the stored outputs after a deliberate change: it copies the checked
cells' outputs from the executed copies into the committed notebooks and clears the rest.

    python tests/nbreplay.py store _build/ci book/*.ipynb
"""
from __future__ import annotations

import queue
import sys
import uuid
from pathlib import Path

import nbformat

CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"


def executed_code_cells(path: Path) -> list:
    """The code cells of an executed copy, without the cell papermill injected."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no executed copy; run papermill first (tests/run.sh)")
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"
            and "injected-parameters" not in c.metadata.get("tags", [])]


def _message(msg_type: str, parent: str, **content) -> dict:
    return {"msg_type": msg_type, "content": content, "parent_header": {"msg_id": parent},
            "header": {"msg_type": msg_type}}


class ReplayKernel:
    """The part of nbval's ``RunningKernel`` that nbval uses, backed by an executed notebook."""

    def __init__(self, executed: Path) -> None:
        self.executed = executed
        self.cells = executed_code_cells(executed)
        self.next = 0
        self.messages: queue.Queue = queue.Queue()

    def _find(self, source: str):
        for i in range(self.next, len(self.cells)):
            if self.cells[i].source == source:
                self.next = i + 1
                return self.cells[i]
        return None

    def execute_cell_input(self, cell_input: str, allow_stdin=None) -> str:
        msg_id = uuid.uuid4().hex
        cell = self._find(cell_input)
        problem = None
        if cell is None:
            problem = f"{self.executed} has no cell with this source: it is out of date"
        elif cell.execution_count is None and not cell.outputs:
            problem = f"papermill did not run this cell in {self.executed} (an earlier one failed)"
        if problem:
            outputs = [nbformat.v4.new_output("error", ename="ReplayError", evalue=problem,
                                              traceback=[f"ReplayError: {problem}"])]
        else:
            outputs = cell.outputs
        for out in outputs:
            if out.output_type == "stream":
                self.messages.put(_message("stream", msg_id, name=out.name, text=out.text))
            elif out.output_type in ("display_data", "execute_result"):
                self.messages.put(_message(out.output_type, msg_id, data=out.data,
                                           metadata=out.get("metadata", {}),
                                           execution_count=out.get("execution_count")))
            elif out.output_type == "error":
                self.messages.put(_message("error", msg_id, ename=out.ename, evalue=out.evalue,
                                           traceback=out.traceback))
        self.messages.put(_message("status", msg_id, execution_state="idle"))
        return msg_id

    def get_message(self, stream: str, timeout=None) -> dict:
        return self.messages.get_nowait()  # raises queue.Empty, as the real kernel does

    def await_reply(self, msg_id, timeout=None) -> None:
        pass

    def await_idle(self, parent_id, timeout) -> None:
        while not self.messages.empty():  # drop the rest of a failed cell's messages
            self.messages.get_nowait()

    def is_alive(self) -> bool:
        return True

    def interrupt(self) -> None:
        pass

    def stop(self) -> None:
        pass


def pytest_addoption(parser) -> None:
    parser.getgroup("nbval").addoption(
        "--nbval-replay", metavar="DIR", default=None,
        help="validate against the executed copies of the notebooks in DIR (same file names) "
             "instead of executing them again")


def pytest_configure(config) -> None:
    folder = config.getoption("nbval_replay")
    if not folder:
        return
    from nbval.plugin import IPyNbFile

    def setup(self) -> None:
        self.kernel = ReplayKernel(Path(folder) / self.path.name)
        self.setup_sanitize_files()

    IPyNbFile.setup = setup


def store(executed_dir: Path, notebooks: list[Path]) -> None:
    """Keep the checked cells' outputs from the executed copies; clear every other output."""
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        replay = ReplayKernel(executed_dir / path.name)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.metadata.pop("execution", None)
            ran = replay._find(cell.source)
            if CHECK_MARKER in cell.source.splitlines() and ran is not None:
                cell.outputs = [o for o in ran.outputs if o.output_type != "error"]
                cell.execution_count = ran.execution_count
            else:
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("papermill", None)
        nbformat.write(nb, path)
        print(f"{path}: stored checked outputs from {executed_dir / path.name}")


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "store":
        sys.exit("usage: python tests/nbreplay.py store EXECUTED_DIR NOTEBOOK...")
    store(Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]])
