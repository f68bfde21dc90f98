# Sourced by the README's two commands (tests/run.sh, book/build.sh): all set-up on a fresh
# machine. Makes .venv, installs requirements.txt (skipped when nothing changed), activates it.
set -euo pipefail
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="$_root/.venv"
if [ ! -x "$_venv/bin/python" ]; then
    echo "setting up a virtual environment in .venv (one to two minutes)" >&2
    python3 -m venv "$_venv"
fi
_stamp="$_venv/.requirements.sha256"
_want="$(cat "$_root/requirements.txt" "$_root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$_stamp" 2>/dev/null)" != "$_want" ]; then
    (cd "$_root" && "$_venv/bin/python" -m pip install -q --disable-pip-version-check \
        -r requirements.txt 2>&1 | grep -v "^WARNING: Location" >&2 || true)
    "$_venv/bin/python" -c "import torch, torchvision, mnistlib" \
        || { echo "set-up failed: see the pip output above" >&2; exit 1; }
    echo "$_want" > "$_stamp"
fi
export PATH="$_venv/bin:$PATH" VIRTUAL_ENV="$_venv"
# Relative mirror paths are taken from the repository root, wherever the notebooks run.
if [ -n "${MNIST_MIRROR:-}" ] && [ -d "$_root/$MNIST_MIRROR" ] && [[ "$MNIST_MIRROR" != /* ]]; then
    export MNIST_MIRROR="$(cd "$_root/$MNIST_MIRROR" && pwd)"
fi
