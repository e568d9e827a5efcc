"""Court-ready reports of a trace or a cluster: HTML, and PDF through WeasyPrint.

As in :mod:`dalil.app.cases.reports`, the document is self-contained (no fetched
resources: the renderer may only read ``data:`` URIs) and every recorded value — tag labels
from a TagPack, addresses, notes — goes through Django's autoescaping. The report states
what produced the result: each heuristic used with its assumption and known limits, the
taint model's assumptions, and the data source (the store's parts and manifest hash).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.template.loader import render_to_string

from dalil import __version__
from dalil.app.cases.reports import css_string
from dalil.app.ledger import services
from dalil.app.ledger.models import LedgerFinding
from dalil.engine.ledger.cluster import MULTI_INPUT


def report_context(kind: str, parameters: dict[str, Any], result: dict[str, Any],
                   source: dict[str, Any], finding: LedgerFinding | None = None
                   ) -> dict[str, Any]:
    """Everything the report template shows; ``source`` is a StoreInfo.to_dict()."""
    if kind == LedgerFinding.Kind.TRACE:
        # Tracing reads tags to stop at services; the clusters it does not use.
        heuristics: list[str] = []
        rows = services.trace_rows(result)
        title = services.default_title(kind, parameters)
    else:
        heuristics = list(result.get("heuristics") or [MULTI_INPUT])
        rows = services.cluster_rows(result)
        title = services.default_title(kind, parameters)
    return {
        "kind": kind, "title": finding.title if finding else title,
        "parameters": services.parameter_rows(parameters), "result": result, "rows": rows,
        "source": source,
        "finding": finding, "heuristics": services.heuristic_texts(heuristics),
        "result_sha256": services.result_sha256(result),
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "version": __version__,
        "css": {"title": css_string(title[:80])},
    }


def render_html(context: dict[str, Any]) -> str:
    return render_to_string("ledger/report.html", context)


def render_pdf(context: dict[str, Any]) -> bytes:
    from weasyprint import HTML  # a heavy import, needed for PDF only
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=("data",))
    data: bytes = HTML(string=render_html(context), url_fetcher=fetcher).write_pdf()
    return data
