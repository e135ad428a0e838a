#!/usr/bin/env bash
# The test command (CI runs exactly this, via .ci/run).
#
#   ./scripts/test.sh                      # install what is missing, then run the whole suite
#   ./scripts/test.sh tests/sip -x -q      # arguments go to pytest (default: tests/)
#
# 1. Debian packages (apt-get update only when something is missing; sudo when not root),
# 2. ./.venv with `pip install -e '.[test]'` (skipped while pyproject.toml is unchanged),
# 3. the official Flashphoner WebSDK from npm into ./.cache/websdk (gitignored, never committed),
# 4. pytest inside a private network namespace that holds only `lo`, so Kamailio, baresip,
#    Chromium and the gateway all share one loopback and nothing else (and a private PID
#    namespace, so nothing they start can outlive the test run).
# pytest's exit code 5 ("no tests collected") counts as success. Quiet when all is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

APT_PACKAGES=(kamailio kamailio-tls-modules kamailio-websocket-modules baresip-core baresip chromium sox libsox-fmt-all
              iproute2 util-linux openssl libopus0 libbcg729-0 libspeex1 procps rtpengine-daemon)
WEBSDK_VERSION=2.0.276
WEBSDK_DIR=$ROOT/.cache/websdk
WEBSDK_PKG=$WEBSDK_DIR/node_modules/@flashphoner/websdk
VENV=$ROOT/.venv
STAMP=$VENV/.wcs-test-stamp

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "test.sh: $*" >&2; }
die() { say "error: $*"; exit 2; }

t_install=$(now)

# --- 1. Debian packages -----------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done
# tools needed only for a first install; checked by command (npm may come from NodeSource etc.)
if [ ! -x "$VENV/bin/python" ]; then
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
fi
if [ ! -f "$WEBSDK_PKG/flashphoner.js" ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm ca-certificates)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    die "missing Debian packages (${missing[*]}) and not root, and sudo is not available: install them as root"
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get: this script targets Debian 12"
  say "installing Debian packages: ${missing[*]}"
  t=$(now)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  say "apt-get done in $(elapsed "$t") s"
fi

# --- 2. Python virtualenv ----------------------------------------------------------------------
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
  have=
fi
if [ "$want" != "$have" ] || ! "$VENV/bin/python" -c "import wcs, pytest, numpy, playwright" 2>/dev/null; then
  say "pip install -e '.[test]'"
  t=$(now)
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
  echo "$want" > "$STAMP"
  say "pip done in $(elapsed "$t") s"
fi

# --- 3. Flashphoner WebSDK (npm) ---------------------------------------------------------------
if ! grep -q "\"version\": *\"$WEBSDK_VERSION\"" "$WEBSDK_PKG/package.json" 2>/dev/null \
   || [ ! -f "$WEBSDK_PKG/flashphoner.js" ]; then
  command -v npm >/dev/null 2>&1 || die "npm not found"
  say "npm install @flashphoner/websdk@$WEBSDK_VERSION into $WEBSDK_DIR"
  t=$(now)
  mkdir -p "$WEBSDK_DIR"
  [ -f "$WEBSDK_DIR/package.json" ] || echo '{"name": "wcs-test-websdk", "private": true}' > "$WEBSDK_DIR/package.json"
  (cd "$WEBSDK_DIR" && npm install --silent --no-audit --no-fund --no-package-lock \
     "@flashphoner/websdk@$WEBSDK_VERSION" >/dev/null)
  say "npm done in $(elapsed "$t") s"
fi

say "install phase: $(elapsed "$t_install") s"

# --- 4. pytest in a private network namespace (only lo) ----------------------------------------
# -n: own network namespace (lo only).  -p -f --mount-proc: own PID namespace with pytest as its
# init, so every process a test starts (Kamailio, baresip, Chromium, the gateway) dies with pytest
# even if pytest is killed; --kill-child: and pytest dies if unshare is killed.
[ $# -gt 0 ] || set -- tests/
UNSHARE=(unshare -n -p -f --kill-child --mount-proc)
if [ "$(id -u)" != 0 ]; then
  UNSHARE+=(-r)   # user namespace: needs unprivileged user namespaces enabled
fi
t_test=$(now)
set +e
"${UNSHARE[@]}" sh -c 'ip link set lo up && exec "$0" -m pytest -ra "$@"' "$VENV/bin/python" "$@"
rc=$?
set -e
say "test phase: $(elapsed "$t_test") s (pytest exit code $rc)"
if [ $rc = 5 ]; then
  say "no tests collected: counted as success"
  rc=0
fi
exit $rc
