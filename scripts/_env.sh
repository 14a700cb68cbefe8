# Shared by scripts/dev and scripts/test: a virtual environment with the project installed.
# Usage: ensure_venv "<extras>"   (e.g. "" or "test,mysql")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

APT_UPDATED=""
apt_install() {
  # Install Debian packages that are missing; quietly skip when we cannot.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { echo "note: cannot install ${missing[*]} (no apt-get)" >&2; return 1; }
  echo "installing system packages: ${missing[*]}" >&2
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq >/dev/null && APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

find_python() {
  for py in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "Python >= 3.11 is required" >&2; return 1
}

# Installs come from the lock files in requirements/ (what the tests ran with), then the project
# itself without dependencies. Refresh the locks with scripts/lock after changing pyproject.toml.
ensure_venv() {
  local extras="$1" lock="requirements/base.lock"
  [ -n "$extras" ] && lock="requirements/test.lock"
  if [ ! -x .venv/bin/python ]; then
    local py; py="$(find_python)"
    "$py" -m venv .venv 2>/dev/null || { apt_install python3-venv && rm -rf .venv && "$py" -m venv .venv; }
  fi
  local stamp=".venv/.installed-${extras:-base}"
  if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    local reqs="$lock"
    if [[ ",$extras," != *",mysql,"* ]]; then
      # mysqlclient builds only against the MariaDB client headers; without them, leave it out.
      reqs="$(mktemp)"; grep -v '^mysqlclient==' "$lock" > "$reqs"
    fi
    .venv/bin/python -m pip install -q -r "$reqs"
    .venv/bin/python -m pip install -q --no-deps -e .
    touch "$stamp"
  fi
}
