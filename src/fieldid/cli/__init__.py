"""The `fieldid` command line (Typer + Rich).

Settings come from the environment (``FIELDID_*``) and the global options, built once and
passed down. Commands act as a named local user (``--as``, default ``$FIELDID_CLI_USER`` or
``operator``) so that every CLI search is audited like an API search. The commands live in
:mod:`.operations` (users, galleries, enrol, identify, verify, sources), :mod:`.maintenance`
(serve, demo, keys, backup, doctor), :mod:`.evaluation` (eval, calibrate) and :mod:`.oversight`
(audit, retention, reports); :mod:`.app` holds the application and the decorator that opens the
service for a command and reports its errors.
"""

# Importing a module registers its commands, in this order in `fieldid --help`.
# isort: off
from fieldid.cli import operations, maintenance, evaluation, oversight  # noqa: F401
from fieldid.cli.app import app
# isort: on

__all__ = ["app"]
