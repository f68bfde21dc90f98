#!/usr/bin/env bash
# The README's main command: set-up, the verified MNIST files, then the HTML book in
# _build/html, every notebook executed. The profile is $MNISTLIB_PROFILE if set, else `full`
# on a CUDA GPU and `cpu` without one (a lighter run that each page says it used); the device
# is $MNISTLIB_DEVICE (default auto). Any Sphinx warning (a
# missing file, reference, citation or glued number) fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/env.sh
start=$SECONDS
# A relative MNIST_ROOT means the repository root here, not book/ where the notebooks run.
if [ -n "${MNIST_ROOT:-}" ]; then export MNIST_ROOT="$(realpath -m "$MNIST_ROOT")"; fi
python -c "import mnistlib.data as d; d.fetch()"  # fetch and verify before any notebook runs
MNISTLIB_PROFILE="$(python -c "from mnistlib.profiles import default_profile as p; print(p())")"
export MNISTLIB_PROFILE MNISTLIB_DEVICE="${MNISTLIB_DEVICE:-auto}"
# Jupyter Book's execution cache is keyed on the notebooks' code alone: book/stale.py drops every
# page whose library code, committed results, profile or device changed since it was executed.
# Trained models are kept in _build/models, keyed by recipe, seed, data and library code.
export MNISTLIB_CACHE="${MNISTLIB_CACHE:-$PWD/_build/models}"
run="$MNISTLIB_PROFILE $MNISTLIB_DEVICE cuda=$(python -c "import torch; print(torch.cuda.is_available())")"
python book/stale.py _build/.jupyter_cache _build/.page_stamps.json "$run" book/[0-9]*.ipynb
echo "building the book: profile $MNISTLIB_PROFILE, device $MNISTLIB_DEVICE ($run)"
# --all re-reads every page, so the intro's numbers glued from the chapters are never stale;
# unchanged notebooks are not executed again, they come from the cache.
set +e
jupyter-book build . --all -W --keep-going 2>&1 | tee _build/build.log
status=${PIPESTATUS[0]}
set -e
# Sphinx's own warnings and errors ("file:line: WARNING: …"), not the kernel's notices
# ("[IPKernelApp] WARNING | …") nor the profiler's ("ERROR:2026-… gpuGetDeviceCount failed").
sphinx='(^|: )(WARNING|ERROR|CRITICAL): '
if grep -E "$sphinx" _build/build.log >/dev/null; then
    echo "warnings and errors from the build:" >&2
    grep -E "$sphinx" _build/build.log >&2
fi
echo "book build (profile $MNISTLIB_PROFILE): $((SECONDS - start)) s, status $status"
exit "$status"
