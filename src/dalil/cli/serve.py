"""`dalil demo`, `dalil serve`, `dalil worker` and `dalil manage`: running the academy site."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import typer
from rich.table import Table

from dalil.cli.output import err, fail, out, print_json
from dalil.cli.root import app
from dalil.cli.setup import django_ready

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
WORKER_COMMAND = [sys.executable, "-m", "dalil.cli", "worker"]


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _allow_host(host: str) -> None:
    """Let Django answer on the address served, unless DALIL_ALLOWED_HOSTS says otherwise."""
    if os.environ.get("DALIL_ALLOWED_HOSTS"):
        return
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    if host in ("0.0.0.0", "::"):  # noqa: S104 - serving a classroom network on purpose
        name = socket.gethostname()
        hosts.append(name)
        with contextlib.suppress(OSError):
            hosts.extend(socket.gethostbyname_ex(name)[2])
    elif host not in hosts:
        hosts.append(host)
    os.environ["DALIL_ALLOWED_HOSTS"] = ",".join(dict.fromkeys(hosts))


@app.command("demo")
def demo(
    port: int = typer.Option(DEFAULT_PORT, "--port", help="Port shown in the printed URL."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Create the demo academy (users for every role, a training case) and print the logins.

    Running it again gives every demo user a new password and changes nothing else.
    """
    django_ready()
    from dalil.app.web.demo import CASE_NUMBER, seed_demo

    logins = seed_demo()
    url = _url(DEFAULT_HOST, port)
    if json_:
        print_json({"url": url, "case": CASE_NUMBER,
                    "logins": [{"username": u, "password": p, "role": r}
                               for u, p, r in logins]})
        return
    table = Table(title="Demo logins (new passwords, shown only now)")
    for column in ("username", "password", "role"):
        table.add_column(column)
    for username, password, role in logins:
        table.add_row(username, password, role)
    out.print(table)
    out.print(f"Demo case {CASE_NUMBER}. Start the site with `dalil serve`, then open {url}",
              highlight=False)


def _start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(WORKER_COMMAND)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@app.command("serve")
def serve(
    host: str = typer.Option(DEFAULT_HOST, "--host",
                             help="Address to listen on (0.0.0.0 for the whole classroom)."),
    port: int = typer.Option(DEFAULT_PORT, "--port"),
    no_worker: bool = typer.Option(False, "--no-worker",
                                   help="Do not start `dalil worker` beside the site."),
) -> None:
    """Serve the academy site (and run its background jobs) until Ctrl+C."""
    _allow_host(host)
    django_ready()
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    handler = StaticFilesHandler(get_wsgi_application())
    worker = None if no_worker else _start_worker()

    def announce(bound_port: int | str) -> None:
        err.print(f"Dalil is serving at {_url(host, int(bound_port))}  (Ctrl+C to stop)",
                  highlight=False)
        if worker is not None:
            err.print(f"Background jobs run in `dalil worker` (pid {worker.pid}).",
                      highlight=False)

    # A stop request (SIGTERM from a service manager, `kill`) also stops the worker.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        run(host, port, handler, ipv6=":" in host, threading=True, on_bind=announce)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        err.print("stopped")
    finally:
        if worker is not None:
            _stop(worker)


@app.command("worker")
def worker(
    interval: float = typer.Option(1.0, "--interval", help="Seconds between queue checks."),
    max_tasks: int | None = typer.Option(None, "--max-tasks",
                                         help="Stop after this many jobs (default: never)."),
) -> None:
    """Run background jobs (verification, acquisition, reports, bundles) until stopped."""
    django_ready()
    from django.core.management import call_command

    from dalil.app.jobs.services import mark_interrupted

    if stale := mark_interrupted():
        err.print(f"{stale} job(s) interrupted by an earlier stop were marked failed")
    options: dict[str, Any] = {"interval": interval, "no_startup_delay": True}
    if max_tasks is not None:
        options["max_tasks"] = max_tasks
    call_command("db_worker", **options)


@app.command(
    "manage",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                      "help_option_names": []},
)
def manage(ctx: typer.Context) -> None:
    """Run a Django management command: `dalil manage createsuperuser`, `... migrate`."""
    django_ready(migrate=False)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["dalil manage", *ctx.args])
