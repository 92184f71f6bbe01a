"""Running and looking after a server: serve, the demo, data keys, backup and restore, doctor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fieldid.cli.app import app, command, console, err, keys_app
from fieldid.config import Settings

if TYPE_CHECKING:
    from fieldid.service import FieldID


@command(app)
def serve(settings: Settings, host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option()] = None) -> None:
    """Run the HTTP API server."""
    import uvicorn

    from fieldid.api import create_app

    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_level="info")


@command(app)
def demo(
    settings: Settings,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    identities: Annotated[int | None, typer.Option(help="Demo people to enrol (first run).")] = None,
    data: Annotated[Path | None, typer.Option(help="Face data set folder with manifest.csv.")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Prepare the demo, do not serve.")] = False,
) -> None:
    """Prepare a pseudonymous demo gallery (first run) and serve it with a DEMO banner."""
    from fieldid.demo import prepare_demo

    overrides: dict[str, object] = {"demo": True}
    if "FIELDID_DATA_DIR" not in os.environ and settings.data_dir == Path("var"):
        overrides["data_dir"] = Path("var/demo")
    if identities is not None:
        overrides["demo_identities"] = identities
    if data is not None:
        overrides["demo_data_dir"] = data
    settings = settings.model_copy(update=overrides)
    info = prepare_demo(settings, console=console)
    console.print(f"[black on yellow] DEMO [/] {info['identities']} pseudonymous people enrolled in "
                  f"'{info['gallery']}'. Demo API keys are in {info['keys_file']}.")
    if not no_serve:
        import uvicorn

        from fieldid.api import create_app

        console.print(f"open http://{host or settings.host}:{port or settings.port}/")
        uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


# -- data keys ---------------------------------------------------------------------------------------
def _index_file_keys(settings: Settings) -> dict[str, int]:
    """Which key encrypts how many FAISS index files (empty for other index backends)."""
    if settings.index_backend != "faiss" or not settings.index_dir.is_dir():
        return {}
    from fieldid.storage.faiss_persist import file_keys

    return file_keys(settings.index_dir)


@command(keys_app, "status")
def keys_status(settings: Settings) -> None:
    """Which key encrypts how many stored values ("plain": written before encryption was on)."""
    from fieldid.storage.factory import open_store
    from fieldid.storage.rekey import raw_key_usage

    store = open_store(settings)
    try:
        if store.keyring is None:
            console.print("encryption at rest is [red]off[/] (encrypt_at_rest = false)")
            return
        usage = raw_key_usage(store, store.keyring)
        index_usage = _index_file_keys(settings)
        table = Table("key id", "role", "stored values", "index files")
        ids = [k.id.hex() for k in store.keyring.keys]
        for kid in [*ids, *sorted((set(usage) | set(index_usage)) - set(ids))]:
            role = ("current" if kid == ids[0] else "older" if kid in ids
                    else "[red]unknown[/]" if kid != "plain" else "[yellow]not encrypted[/]")
            table.add_row(kid, role, f"{usage.get(kid, 0):,}", f"{index_usage.get(kid, 0):,}")
        console.print(table)
    finally:
        store.dispose()


@command(keys_app, "rotate")
def keys_rotate(
    settings: Settings,
    drop_old: Annotated[bool, typer.Option(
        help="After re-encrypting, remove the older keys from the keyring.")] = False,
) -> None:
    """Add a new current data key and re-encrypt every stored value with it (with progress)."""
    from rich.progress import Progress

    from fieldid.storage.crypto import DataKey, Keyring
    from fieldid.storage.factory import open_store
    from fieldid.storage.rekey import raw_key_usage, reencrypt

    if settings.data_keys:
        err.print("[red]the keyring comes from FIELDID_DATA_KEYS: rotate it in your secret store "
                  "(put the new key first), then run `fieldid keys rotate` without --drop-old[/]")
        raise typer.Exit(2)
    store = open_store(settings)
    try:
        if store.keyring is None:
            err.print("[red]encryption at rest is off[/]")
            raise typer.Exit(2)
        ring = Keyring([DataKey.generate(), *store.keyring.keys])
        ring.save(settings.resolved_data_keys_file)  # saved first: a crash midway leaves every key readable
        store.dispose()
        store = open_store(settings)
        with Progress(console=console) as progress:
            task = progress.add_task("Re-encrypting", total=None)
            n = reencrypt(store, lambda done, total: progress.update(task, completed=done, total=total))
        rewritten = 0
        if settings.index_backend == "faiss" and settings.index_dir.is_dir():
            from fieldid.storage.faiss_persist import reencrypt_files

            rewritten = reencrypt_files(settings.index_dir, store.keyring)
        usage = raw_key_usage(store, store.keyring)
        for kid, count in _index_file_keys(settings).items():
            usage[kid] += count
        stale = {k: v for k, v in usage.items() if k != ring.current_id.hex()}
        console.print(f"re-encrypted {n:,} rows and {rewritten:,} index files "
                      f"with key {ring.current_id.hex()}")
        if drop_old:
            if stale:
                err.print(f"[red]not dropping older keys: values still under {stale}[/]")
                raise typer.Exit(1)
            Keyring([ring.keys[0]]).save(settings.resolved_data_keys_file)
            console.print("older keys removed from the keyring")
    finally:
        store.dispose()


# -- backup, restore, doctor -------------------------------------------------------------------------
@command(app, "backup")
def backup_cmd(settings: Settings, out: Annotated[Path,
                                                  typer.Argument(help="Archive to write (.tar).")]) -> None:
    """Back up the database (SQLite, or PostgreSQL through pg_dump) and the FAISS index into one
    verified archive; a Milvus index is rebuilt from the database on restore. The data keyring
    is not included: keep it in your secret store."""
    from fieldid.backup import backup

    manifest = backup(settings, out)
    console.print(f"backed up {manifest['identities']:,} identities, {manifest['templates']:,} templates, "
                  f"{manifest['audit_events']:,} audit events "
                  f"(chain head {manifest['audit_head_hash'][:12]}) to {out}")


@command(app, "restore")
def restore_cmd(
    settings: Settings,
    archive: Annotated[Path, typer.Argument(help="Archive written by `fieldid backup`.")],
    force: Annotated[bool, typer.Option(help="Replace an existing database.")] = False,
) -> None:
    """Restore a backup into the configured database and data directory, verify checksums,
    reconcile the index and the audit chain."""
    from fieldid.backup import restore

    m = restore(settings, archive, force=force)
    r = m["restored"]
    console.print(f"restored {r['identities']:,} identities, {r['templates']:,} templates; "
                  f"audit chain intact ({r['audit_events']:,} events, head {r['audit_head_hash'][:12]}); "
                  f"{m['index_repairs']} index repairs")


@command(app, reconcile=False)
def doctor(fid: FieldID, repair: Annotated[bool, typer.Option(help="Fix what is found.")] = True) -> None:
    """Check index ↔ database consistency (orphan vectors, missing vectors) and the audit chain."""
    report = fid.reconcile(repair=repair)
    table = Table("space", "templates in DB", "vectors in index", "missing", "orphans")
    for sp in report.spaces:
        table.add_row(sp.space, str(sp.db_templates), str(sp.index_vectors), str(sp.missing_in_index),
                      str(sp.orphans_in_index))
    console.print(table)
    chain = fid.oversight.chain_report()
    console.print(f"orphan vectors: {report.orphan_vectors}, missing vectors: {report.missing_vectors}"
                  + (" (repaired)" if repair and not report.consistent else ""))
    console.print(f"audit chain: {'intact' if chain.intact else 'BROKEN'} ({chain.events} events)")
    if (not report.consistent and not repair) or not chain.intact:
        raise typer.Exit(1)
