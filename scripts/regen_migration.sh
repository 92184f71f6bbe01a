#!/usr/bin/env bash
# Development helper: regenerate the initial migration from the models (before the first release only).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f src/fieldid/storage/migrations/versions/0001_initial_schema.py /tmp/fieldid-mig.db
.venv/bin/python - <<'PY'
from alembic import command
from alembic.config import Config
cfg = Config()
cfg.set_main_option("script_location", "src/fieldid/storage/migrations")
cfg.set_main_option("sqlalchemy.url", "sqlite:////tmp/fieldid-mig.db")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
PY
.venv/bin/ruff format -q src/fieldid/storage/migrations/versions/0001_initial_schema.py
