"""A worker process that dies during an exhibit's scan: the run is "completed with gaps",
stores the unscanned ranges in its notes, and keeps every other finding."""

from __future__ import annotations

import pytest
from scanning_helpers import EMAIL, OFFSETS, WALLET, add_bytes_exhibit

from dalil.app.scanning import services
from dalil.app.scanning.models import Finding, ScanRun
from dalil.engine.scan.runner import DIE_AT_ENV

pytestmark = pytest.mark.django_db

PAGE = 64 * 1024


def test_a_dead_worker_leaves_a_run_completed_with_gaps(case, as_examiner, monkeypatch):
    exhibit = add_bytes_exhibit(case)
    dead_page = OFFSETS["bitcoin"] // PAGE
    monkeypatch.setenv(DIE_AT_ENV, str(OFFSETS["bitcoin"]))
    run = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                options={"page_size": PAGE, "margin": 4096, "jobs": 2})
    run.refresh_from_db()
    assert run.status == ScanRun.Status.PARTIAL
    assert run.unscanned == [{"offset": dead_page * PAGE, "length": PAGE,
                              "reason": run.unscanned[0]["reason"]}]
    assert any("not scanned" in note["message"] for note in run.notes)
    features = set(Finding.objects.filter(run=run).values_list("feature", flat=True))
    assert EMAIL in features and WALLET not in features
    assert run.features_sha256 and run.report_sha256
    entry = exhibit.custody.filter(action="examined").order_by("seq").last()
    assert entry is not None and entry.details["result"].startswith("completed with gaps")
    page = as_examiner.get(f"/scanning/cases/{case.pk}/exhibits/{exhibit.pk}/findings/"
                           f"?run={run.pk}")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="unscanned"' in html
    assert f"{PAGE} bytes at offset {dead_page * PAGE}" in html
    assert "Completed with gaps" in html
