"""``python -m fieldid.cli``."""

from fieldid.cli import app

app()
