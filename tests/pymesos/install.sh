#!/usr/bin/env bash
# Installs pymesos 0.3.15, unmodified, into a venv so that tests/pymesos/scheduler.py can drive
# the embedded cluster as a third-party Mesos v1 client.
#
#   bash tests/pymesos/install.sh            # venv at <repo root>/target/pymesos-venv
#   CAIRN_PYMESOS_VENV=/some/dir bash tests/pymesos/install.sh
#
# pymesos needs http-parser 0.9.0, whose C extension does not build on Python >= 3.11 (it
# includes longintrepr.h). The package ships a pure-Python parser that `http_parser.http` falls
# back to when the extension is absent, so we build the sdist with the extension turned off.
# Idempotent: a marker file written last means the venv is complete; re-running is then a no-op.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${CAIRN_PYMESOS_VENV:-target/pymesos-venv}"
# Relative to the repo root wherever this runs from, as the Rust test resolves it.
[[ "$venv" == /* ]] || venv="$repo_root/$venv"
marker="$venv/.cairn-pymesos-installed"
# Bump when the set of packages below changes, so old venvs are rebuilt.
stamp="pymesos==0.3.15 http-parser==0.9.0(no-ext) six addict kazoo v1"

if [[ -f "$marker" && "$(cat "$marker")" == "$stamp" ]] && "$venv/bin/python" -c 'import pymesos' 2>/dev/null; then
    echo "pymesos venv ready: $venv"
    exit 0
fi

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "install.sh: $python not found (install python3 and python3-venv)" >&2; exit 1; }

rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input --quiet)

"${pip[@]}" install six addict kazoo

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${pip[@]}" download --no-deps --no-binary :all: --dest "$work" http-parser==0.9.0
tar -xzf "$work"/http-parser-0.9.0.tar.gz -C "$work"
setup="$work/http-parser-0.9.0/setup.py"
# Turn the C extension off: the pure-Python parser is used instead.
sed -i 's/run_setup(not IS_PYPY)/run_setup(False)/' "$setup"
# `imp` is gone in Python 3.12; the version is all setup.py wanted from it.
sed -i 's/^from imp import load_source$//' "$setup"
sed -i 's/^http_parser = load_source(.*$/import types; http_parser = types.SimpleNamespace(__version__="0.9.0")/' "$setup"
sed -i '/^        "__init__.py"))$/d' "$setup"
grep -q 'run_setup(False)' "$setup" || { echo "install.sh: could not patch $setup" >&2; exit 1; }
"${pip[@]}" install "$work/http-parser-0.9.0"

# --no-deps: pip would otherwise try to build http-parser again from PyPI.
"${pip[@]}" install --no-deps pymesos==0.3.15

"$venv/bin/python" - <<'EOF'
import http_parser.http
from http_parser.pyparser import HttpParser as Py
assert http_parser.http.HttpParser is Py, "http_parser.http must use the pure-Python parser"
import pymesos
from pymesos import MesosSchedulerDriver, Scheduler
EOF

echo "$stamp" >"$marker"
echo "pymesos venv ready: $venv"
