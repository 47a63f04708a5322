# shellcheck shell=bash
# Shared setup for scripts/test and scripts/demo.
ensure_tools() {
  export PATH="$HOME/.local/bin:$PATH"
  if ! command -v uv >/dev/null 2>&1; then
    echo "== installing uv (from PyPI)"
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  fi
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
  echo "== uv sync --locked"
  uv sync --locked --quiet
}
