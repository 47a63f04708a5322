# shellcheck shell=bash
# Shared setup for scripts/test and scripts/demo.

# uv from PyPI into a virtual environment of its own (LIVESHOP_TOOLS_DIR, default
# ~/.local/share/liveshop/tools), never `pip install --user`: a Debian/Ubuntu Python refuses that
# (PEP 668, "externally-managed-environment"). Only the uv executable goes on PATH, not that
# environment's python. Falls back to pipx where `python3 -m venv` is unavailable.
ensure_uv() {
  export PATH="$HOME/.local/bin:$PATH"
  command -v uv >/dev/null 2>&1 && return 0
  local tools="${LIVESHOP_TOOLS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/liveshop/tools}"
  if [ ! -x "$tools/bin/uv" ]; then
    if ! command -v python3 >/dev/null 2>&1; then
      echo "error: python3 is needed to install uv (or install uv yourself: https://docs.astral.sh/uv/)" >&2
      exit 2
    fi
    echo "== installing uv (from PyPI, into $tools)"
    rm -rf "$tools/uv-venv"
    if ! python3 -m venv "$tools/uv-venv" >/dev/null 2>&1; then
      rm -rf "$tools/uv-venv"
      if command -v pipx >/dev/null 2>&1; then
        pipx install --quiet uv >/dev/null
        PATH="$(pipx environment --value PIPX_BIN_DIR 2>/dev/null || echo "$HOME/.local/bin"):$PATH"
        export PATH
        command -v uv >/dev/null 2>&1 && return 0
      fi
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing python3-venv (python3 -m venv needs it)"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      fi
      if ! python3 -m venv "$tools/uv-venv" >/dev/null; then
        echo "error: cannot create a virtual environment for uv: install python3-venv or pipx (or uv itself)" >&2
        exit 2
      fi
    fi
    "$tools/uv-venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
    mkdir -p "$tools/bin"
    ln -sf ../uv-venv/bin/uv "$tools/bin/uv"
    if [ -e "$tools/uv-venv/bin/uvx" ]; then ln -sf ../uv-venv/bin/uvx "$tools/bin/uvx"; fi
  fi
  export PATH="$tools/bin:$PATH"
}

ensure_tools() {
  ensure_uv
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  if [ ${#missing[@]} -gt 0 ] && [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "== installing ${missing[*]} (Kafka runs from its Maven Central jars on Java 17+)"
      apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "error: Kafka runs from Maven Central jars and needs: ${missing[*]}" >&2
      echo "       install them (e.g. sudo apt-get install -y ${missing[*]}) or set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL" >&2
      exit 2
    fi
  fi
  ensure_kcat
  echo "== uv sync --locked"
  uv sync --locked --quiet
}

# kcat runs the ISV Kafka example (examples/isv/produce_report_kcat.sh) in the integration tests,
# which fail (never skip) without it. Installed quietly with apt-get as root, only when missing; the
# package lists are refreshed only if the first try cannot find it.
ensure_kcat() {
  command -v kcat >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing kcat (the ISV Kafka example's tool)"
    apt-get install -y -qq kcat >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq kcat >/dev/null; } ||
      echo "warning: could not install kcat; the kcat example's test will fail" >&2
  else
    echo "warning: kcat is not installed (sudo apt-get install -y kcat); the kcat example's test will fail" >&2
  fi
}
