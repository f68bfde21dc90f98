#!/usr/bin/env bash
# The README's test command: set-up, the unit tests, then every notebook in book/ executed in
# the `ci` profile (papermill executes and keeps the copy; nbval validates checked outputs).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/env.sh
start=$SECONDS
python -m pytest tests -q -p no:cacheprovider
echo "unit tests: $((SECONDS - start)) s"

# --- The notebooks: every chapter in book/, executed once, in the `ci` profile ----------------
# papermill executes each notebook with the profile injected as a parameter and keeps the
# executed copy in _build/ci/; a cell that fails (an assert on a claim that stopped being true)
# fails it. nbval then validates the committed notebooks against those copies without running
# them again (tests/nbreplay.py replays papermill's outputs to nbval): a `# NBVAL_CHECK_OUTPUT`
# cell whose output differs from the output stored in the committed notebook fails it.
# The notebooks run with book/ as working directory, as in the book build.
executed=_build/ci
# A relative MNIST_ROOT means the repository root here, not book/ where the notebooks run.
if [ -n "${MNIST_ROOT:-}" ]; then export MNIST_ROOT="$(realpath -m "$MNIST_ROOT")"; fi
rm -rf "$executed" && mkdir -p "$executed"
notebooks_start=$SECONDS
failed=()
for nb in book/[0-9]*.ipynb; do
    t=$SECONDS
    if papermill "$nb" "$executed/$(basename "$nb")" -p profile ci \
            -p device "${MNISTLIB_DEVICE:-auto}" --cwd book --kernel python3 \
            --no-progress-bar --log-level WARNING --execution-timeout 1800; then
        echo "papermill $nb: $((SECONDS - t)) s"
    else
        echo "papermill $nb FAILED after $((SECONDS - t)) s; executed copy: $executed/$(basename "$nb")"
        failed+=("papermill $nb")
    fi
done
python -m pytest -p tests.nbreplay --nbval-lax --nbval-replay "$executed" book/[0-9]*.ipynb \
    -q -p no:cacheprovider || failed+=("nbval")
echo "notebooks: $((SECONDS - notebooks_start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
