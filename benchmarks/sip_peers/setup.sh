#!/usr/bin/env bash
# Make ./.cache/bench-venv: a clean virtualenv (no system site-packages) holding wcs (editable)
# and the peer SIP parsers of requirements.txt, plus atheris for benchmarks/fuzz_sip.py when it
# installs.  Only the benchmarks use it; the project's .venv is never touched.
# Idempotent: does nothing when the venv matches requirements.txt and pyproject.toml.
#   PYTHON=python3.11 benchmarks/sip_peers/setup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$root/.cache/bench-venv"
python=${PYTHON:-python3}
stamp="$venv/.wcs-bench-stamp"
want=$(cat "$here/requirements.txt" "$root/pyproject.toml" "$0" | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
log="$root/.cache/bench-venv-setup.log"
echo "setting up $venv (wcs + SIP peers; pip log in $log) ..." >&2
rm -f "$stamp"
mkdir -p "$root/.cache"
: > "$log"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@" >>"$log" 2>&1; }
"$python" -m venv "$venv"
pip install --upgrade pip
if ! pip install -e "$root"; then
    tail -n 20 "$log" >&2
    echo "pip could not install wcs into $venv (see $log)" >&2
    exit 1
fi
# One peer at a time, so that one that does not install leaves the others usable; the
# benchmark reports each failure (with pip's last line) instead of a figure.
failures="$venv/install-failures.txt"
: > "$failures"
while read -r spec _; do
    case "$spec" in ""|"#"*) continue ;; esac
    if ! pip install "$spec"; then
        echo "$spec: $(grep -E 'ERROR|error' "$log" | tail -n 1)" >> "$failures"
        echo "could not install $spec (see $log)" >&2
    fi
done < "$here/requirements.txt"
if ! pip install atheris; then
    echo "atheris did not install (see $log): benchmarks/fuzz_sip.py uses its seeded loop" >&2
fi
if [ -s "$failures" ]; then
    exit 0  # no stamp: the next run tries the missing peers again
fi
echo "$want" > "$stamp"
