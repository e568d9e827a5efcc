"""`dalil demo`, `dalil serve`, `dalil worker` and `dalil manage`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dalil.cli import serve
from dalil.cli.main import app

pytestmark = pytest.mark.django_db

runner = CliRunner()


def test_demo_prints_the_url_and_the_logins():
    result = runner.invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["url"] == "http://127.0.0.1:8000/"
    assert [login["username"] for login in document["logins"]] == [
        "trainee", "trainer", "examiner", "prosecutor", "coordinator", "admin"]
    table = runner.invoke(app, ["demo"])
    assert table.exit_code == 0
    assert "examiner" in table.stdout and "http://127.0.0.1:8000/" in table.stdout


def test_serve_runs_the_site_with_static_files_and_a_worker(monkeypatch):
    from django.core.servers import basehttp

    calls = {}

    def fake_run(host, port, handler, **kwargs):
        calls.update(host=host, port=port, handler=handler, **kwargs)
        kwargs["on_bind"](port)

    class FakeWorker:
        pid = 4242
        stopped = False

        def poll(self):
            return None if not self.stopped else 0

        def send_signal(self, signum):
            self.stopped = True

        def wait(self, timeout=None):
            return 0

    worker = FakeWorker()
    monkeypatch.setattr(basehttp, "run", fake_run)
    monkeypatch.setattr(serve, "_start_worker", lambda: worker)
    monkeypatch.setattr(serve.signal, "signal", lambda *a: None)
    result = runner.invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert (calls["host"], calls["port"], calls["threading"]) == ("127.0.0.1", 8123, True)
    assert type(calls["handler"]).__name__ == "StaticFilesHandler"
    assert "http://127.0.0.1:8123/" in result.stderr
    assert worker.stopped  # the worker stops with the site


def test_serve_without_worker_and_a_busy_port(monkeypatch):
    from django.core.servers import basehttp

    def busy(*args, **kwargs):
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(basehttp, "run", busy)
    monkeypatch.setattr(serve, "_start_worker", lambda: pytest.fail("no worker wanted"))
    monkeypatch.setattr(serve.signal, "signal", lambda *a: None)
    result = runner.invoke(app, ["serve", "--no-worker"])
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1:8000: Address already in use" in result.stderr


def test_worker_runs_the_db_worker_with_the_job_kinds(monkeypatch):
    from django.core import management

    from dalil.app.jobs.services import REGISTRY

    seen = {}
    monkeypatch.setattr(management, "call_command",
                        lambda name, **options: seen.update(name=name, **options))
    result = runner.invoke(app, ["worker", "--max-tasks", "1"])
    assert result.exit_code == 0, result.output
    assert seen == {"name": "db_worker", "interval": 1.0, "no_startup_delay": True,
                    "max_tasks": 1}
    assert {"verify_case", "acquire_exhibit", "build_report", "build_bundle"} <= set(REGISTRY)


def test_manage_passes_arguments_through(monkeypatch):
    result = runner.invoke(app, ["manage", "check", "--deploy", "--fail-level", "CRITICAL"])
    assert result.exit_code == 0, result.output
    assert "System check identified" in result.output


def test_allowed_hosts_follow_the_served_address(monkeypatch):
    monkeypatch.delenv("DALIL_ALLOWED_HOSTS", raising=False)
    serve._allow_host("192.168.1.20")
    assert serve.os.environ["DALIL_ALLOWED_HOSTS"].split(",")[-1] == "192.168.1.20"
    monkeypatch.setenv("DALIL_ALLOWED_HOSTS", "dalil.academy.kz")
    serve._allow_host("0.0.0.0")
    assert serve.os.environ["DALIL_ALLOWED_HOSTS"] == "dalil.academy.kz"
