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
# The browser side, pinned in package-lock.json: ONNX Runtime Web (export --web), MathJax (the
# book loads it from its own build, not a CDN) and playwright-core (the browser test). `npm ci`
# runs when the lock file changed; without npm the browser parts say so and the rest goes on.
_npm_stamp="$_root/node_modules/.package-lock.sha256"
_npm_want="$(sha256sum "$_root/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$_npm_stamp" 2>/dev/null)" != "$_npm_want" ]; then
    if command -v npm >/dev/null; then
        (cd "$_root" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
            || { echo "set-up failed: npm ci (see above)" >&2; exit 1; }
        echo "$_npm_want" > "$_npm_stamp"
    else
        echo "no npm here: no browser demo (export --web), no offline MathJax, no browser test" >&2
    fi
fi
# What _config.yml's html_static_path and html_extra_path name: MathJax's files, and a folder
# for the chapter 9 demo, which its notebook writes.
_offline="$_root/_build/offline"
if [ -f "$_root/node_modules/mathjax/es5/tex-mml-chtml.js" ] \
        && [ "$(cat "$_offline/static/mathjax/.stamp" 2>/dev/null)" != "$_npm_want" ]; then
    rm -rf "$_offline/static/mathjax" && mkdir -p "$_offline/static/mathjax/output/chtml/fonts"
    _mj="$_root/node_modules/mathjax/es5"
    cp -r "$_mj/tex-mml-chtml.js" "$_mj/input" "$_mj/a11y" "$_mj/sre" "$_mj/ui" \
        "$_offline/static/mathjax/"
    cp -r "$_mj/output/chtml/fonts/woff-v2" "$_offline/static/mathjax/output/chtml/fonts/"
    echo "$_npm_want" > "$_offline/static/mathjax/.stamp"
fi
mkdir -p "$_offline/static" "$_offline/extra"
# Relative mirror paths are taken from the repository root, wherever the notebooks run.
if [ -n "${MNIST_MIRROR:-}" ] && [ -d "$_root/$MNIST_MIRROR" ] && [[ "$MNIST_MIRROR" != /* ]]; then
    export MNIST_MIRROR="$(cd "$_root/$MNIST_MIRROR" && pwd)"
fi
