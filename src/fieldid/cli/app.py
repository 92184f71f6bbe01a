"""The Typer application, its global options, and the one decorator every command goes through.

Settings come from the environment (``FIELDID_*``) and the global options, built once by the
callback and kept in the Typer context. :func:`command` registers a command and does the rest:
it opens what the command works on (the service, or just the settings), closes it, and turns a
:class:`~fieldid.errors.FieldIDError` into its code and message on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from fieldid.config import Settings
from fieldid.errors import FieldIDError

app = typer.Typer(no_args_is_help=True, help="FieldID: accountable field biometric identification.",
                  pretty_exceptions_enable=False, rich_markup_mode="rich")


def group(name: str, help: str) -> typer.Typer:
    sub = typer.Typer(no_args_is_help=True, help=help)
    app.add_typer(sub, name=name)
    return sub


admin_app = group("admin", "Agencies, users and API keys.")
gallery_app = group("gallery", "Galleries.")
eval_app = group("eval", "Evaluations: accuracy, DET curves, open-set identification.")
calibrate_app = group("calibrate", "Build score → FMR calibration tables.")
audit_app = group("audit", "The tamper-evident audit log.")
retention_app = group("retention", "Retention: purge what has outlived its time.")
report_app = group("report", "Reports.")
sources_app = group("sources", "Connected record systems.")
keys_app = group("keys", "Data keys: encryption at rest of biometric data.")

console = Console()
err = Console(stderr=True)

AsUser = Annotated[str, typer.Option("--as", envvar="FIELDID_CLI_USER",
                                     help="Local user the command acts as.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON body.")]


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (database, index files).")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    index_backend: Annotated[str | None, typer.Option(help="faiss | milvus | memory")] = None,
) -> None:
    overrides = {"data_dir": data_dir, "database_url": database_url, "index_backend": index_backend}
    ctx.obj = Settings(**{k: v for k, v in overrides.items() if v is not None})


def fail(exc: FieldIDError) -> None:
    """Print a FieldID error the way every command does, and exit with code 2."""
    err.print(f"[bold red]error[/] [red]{exc.code}[/]: {exc.message}")
    if exc.details:
        err.print(json.dumps(exc.details, indent=1, default=str))
    raise typer.Exit(2)


F = TypeVar("F", bound=Callable[..., Any])


def command(group: typer.Typer, name: str | None = None, *, reconcile: bool = True) -> Callable[[F], F]:
    """Register ``fn`` as a command of ``group``. Its first parameter says what it works on and
    is not a command-line option: ``fid`` gets the service (opened from the settings — its index
    reconciled with the database unless ``reconcile`` is off — and closed afterwards),
    ``settings`` the settings. FieldID errors exit with code 2 (:func:`fail`)."""

    def register(fn: F) -> F:
        signature = inspect.signature(fn)
        first, *options = signature.parameters.values()
        if first.name not in ("fid", "settings"):
            raise TypeError(f"{fn.__name__}: the first parameter must be 'fid' or 'settings'")

        @functools.wraps(fn)
        def run(cli_context: typer.Context, *args: Any, **kwargs: Any) -> Any:
            settings: Settings = cli_context.find_root().obj
            try:
                if first.name == "settings":
                    return fn(settings, *args, **kwargs)
                from fieldid.service import FieldID  # loads the storage and model stacks: not for --help

                fid = FieldID.open(settings, reconcile=reconcile)
                try:
                    return fn(fid, *args, **kwargs)
                finally:
                    fid.close()
            except FieldIDError as exc:
                fail(exc)

        # Typer reads the options from the signature: the command's own, with their (string)
        # annotations evaluated in the command's module, and the Typer context (where the
        # callback keeps the settings) instead of the first parameter.
        context = inspect.Parameter("cli_context", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=typer.Context)
        options = [context, *(_evaluated(p, fn.__globals__) for p in options)]
        run.__signature__ = signature.replace(parameters=options)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in options}
        group.command(name)(run)
        return fn

    return register


def _evaluated(param: inspect.Parameter, namespace: dict[str, Any]) -> inspect.Parameter:
    if isinstance(param.annotation, str):
        return param.replace(annotation=eval(param.annotation, namespace))  # noqa: S307 - our own annotation
    return param


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        err.print(f"[red]cannot read {path}: {exc.strerror}[/]")
        raise typer.Exit(2) from None
