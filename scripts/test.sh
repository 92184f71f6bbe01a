#!/usr/bin/env bash
# Runs the whole suite. Makes sure the services the tests need are up: PostgreSQL (storage and
# governance tests run on SQLite *and* PostgreSQL) and Debian's Chromium (browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

export FIELDID_TEST_POSTGRES_URL="${FIELDID_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432: starting it" >&2
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the browser tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will fail" >&2
fi

exec .venv/bin/python -m pytest "$@"
