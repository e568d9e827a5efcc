"""The ledger pages: thin views over ledger.services (the store is only read here).

Address, transaction and cluster pages; the trace form with its flow graph; CSV, XLSX and
PDF exports of a cluster or a trace; and findings saved into a case. Whoever is logged in
may read the installation's ledger store; a finding belongs to a case, so only those who
see the case see its findings (others get a 404), and only roles that may change cases
record one.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from dalil.app.cases.models import Case
from dalil.app.cases.services import CaseError
from dalil.app.ledger import reports, services
from dalil.app.ledger.forms import (
    HeuristicsForm,
    LookupForm,
    SaveFindingForm,
    TraceForm,
    WhyForm,
)
from dalil.app.ledger.models import LedgerFinding
from dalil.app.web.exports import to_csv, to_xlsx
from dalil.engine.ledger.trace import TraceError

MEMBERS_PER_PAGE = 100
TXID = re.compile(r"^[0-9a-fA-F]{64}$")
EXPORTS = ("csv", "xlsx", "pdf")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _can_edit(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "can_edit_cases", False))


def _empty(request: HttpRequest, info: services.StoreInfo) -> HttpResponse:
    return render(request, "ledger/empty.html", {"info": info, "nav": "ledger"})


def _heuristics(request: HttpRequest) -> tuple[str, ...]:
    try:
        return services.heuristics_from(request.GET.getlist("heuristics"))
    except ValueError as exc:
        raise Http404(str(exc)) from exc


def _query(heuristics: tuple[str, ...]) -> str:
    if heuristics == ("multi-input",):
        return ""
    query = QueryDict(mutable=True)
    query.setlist("heuristics", list(heuristics))
    return "?" + query.urlencode()


def _file(data: bytes, fmt: str, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.{fmt}")
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- store pages -------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    info = services.store_info()
    if info.empty:
        return _empty(request, info)
    form = LookupForm(request.GET or None)
    if form.is_valid():
        query = form.cleaned_data["query"].strip()
        if TXID.match(query) and services.transaction_detail(query) is not None:
            return redirect("ledger:transaction", txid=query.lower())
        if ":" in query and TXID.match(query.rsplit(":", 1)[0]):
            return redirect("ledger:transaction", txid=query.rsplit(":", 1)[0].lower())
        if "/" not in query:
            return redirect("ledger:address", address=query)
        form.add_error("query", _("Not an address or a transaction id."))
    recent = LedgerFinding.objects.filter(
        case__in=Case.objects.visible_to(request.user)).select_related("case")[:10]
    return render(request, "ledger/index.html",
                  {"info": info, "form": form, "recent": recent, "nav": "ledger"})


@login_required
@require_GET
def address(request: HttpRequest, address: str) -> HttpResponse:
    info = services.store_info()
    if info.empty:
        return _empty(request, info)
    heuristics = _heuristics(request)
    summary = services.address_summary(address, heuristics)
    trace_form = TraceForm(initial={"seed": address})
    return render(request, "ledger/address.html", {
        "summary": summary, "address": address, "heuristics": heuristics,
        "query": _query(heuristics), "trace_form": trace_form,
        "heuristics_form": HeuristicsForm(initial={"heuristics": list(heuristics)}),
        "nav": "ledger"}, status=200 if summary["known"] else 404)


@login_required
@require_GET
def transaction(request: HttpRequest, txid: str) -> HttpResponse:
    info = services.store_info()
    if info.empty:
        return _empty(request, info)
    if not TXID.match(txid):
        raise Http404(_("Not a transaction id."))
    found = services.transaction_detail(txid)
    if found is None:
        return render(request, "ledger/not_found.html",
                      {"what": txid, "nav": "ledger"}, status=404)
    return render(request, "ledger/transaction.html", {"tx": found, "nav": "ledger"})


def _cluster(request: HttpRequest, address: str
             ) -> tuple[services.StoreInfo, tuple[str, ...], dict[str, Any] | None]:
    info = services.store_info()
    heuristics = _heuristics(request)
    result = None if info.empty else services.cluster_result(address, heuristics)
    return info, heuristics, result


@login_required
@require_GET
def cluster(request: HttpRequest, address: str) -> HttpResponse:
    info, heuristics, result = _cluster(request, address)
    if info.empty:
        return _empty(request, info)
    if result is None:
        return render(request, "ledger/not_found.html", {
            "what": address, "nav": "ledger",
            "hint": _("Only addresses that spent coins (input addresses) are clustered.")},
            status=404)
    page = Paginator(result["members"], MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    members = [(m, result["tags"].get(m, [])) for m in page.object_list]
    tagged = sorted(result["tags"].items())
    return render(request, "ledger/cluster.html", {
        "result": result, "page": page, "members": members, "tagged": tagged,
        "address": address, "heuristics": heuristics, "query": _query(heuristics),
        "why_form": WhyForm(initial={"a": address}),
        "heuristics_form": HeuristicsForm(initial={"heuristics": list(heuristics)}),
        "save_form": SaveFindingForm(user=request.user) if _can_edit(request) else None,
        "nav": "ledger"})


@login_required
@require_GET
def cluster_why(request: HttpRequest, address: str) -> HttpResponse:
    """The chain of transactions linking two members (an HTMX fragment, or a page)."""
    form = WhyForm(request.GET)
    steps: list[dict[str, str]] | None = None
    if form.is_valid():
        try:
            heuristics = services.heuristics_from(request.GET.getlist("heuristics"))
        except ValueError as exc:
            raise Http404(str(exc)) from exc
        steps = services.why(form.cleaned_data["a"], form.cleaned_data["b"], heuristics)
    context = {"form": form, "steps": steps, "address": address, "checked": form.is_valid(),
               "nav": "ledger"}
    if request.headers.get("HX-Request") == "true":
        return render(request, "ledger/_why.html", context)
    return render(request, "ledger/why.html", context)


@login_required
@require_GET
def cluster_export(request: HttpRequest, address: str, fmt: str) -> HttpResponse:
    if fmt not in EXPORTS:
        raise Http404(fmt)
    info, heuristics, result = _cluster(request, address)
    if info.empty or result is None:
        raise Http404(_("This address is in no cluster of the store."))
    parameters = {"address": address, "heuristics": list(heuristics)}
    return _export("cluster", fmt, parameters, result, info.to_dict(),
                   f"cluster-{slugify(address)[:40]}")


def _export(kind: str, fmt: str, parameters: dict[str, Any], result: dict[str, Any],
            source: dict[str, Any], name: str,
            finding: LedgerFinding | None = None) -> HttpResponse:
    if fmt == "pdf":
        context = reports.report_context(kind, parameters, result, source, finding)
        return _file(reports.render_pdf(context), fmt, name)
    if kind == LedgerFinding.Kind.TRACE:
        header, rows, sheet = services.TRACE_HEADER, services.trace_rows(result), _("Flows")
    else:
        header, rows, sheet = services.CLUSTER_HEADER, services.cluster_rows(result), \
            _("Cluster")
    if fmt == "csv":
        return _file(to_csv(header, rows), fmt, name)
    about = services.provenance(parameters, services.StoreInfo(**source))
    if finding is not None:
        about.append(("finding", f"{finding.case.number} #{finding.pk}"))
    return _file(to_xlsx(header, rows, sheet, about), fmt, name)


@login_required
@require_POST
def cluster_save(request: HttpRequest, address: str) -> HttpResponse:
    if not _can_edit(request):
        raise PermissionDenied(_("Your role may read cases but not record findings."))
    info, heuristics, result = _cluster(request, address)
    if info.empty or result is None:
        raise Http404(_("This address is in no cluster of the store."))
    form = SaveFindingForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, _("Choose an open case you can see."))
        return redirect(reverse("ledger:cluster", args=[address]) + _query(heuristics))
    parameters = {"address": address, "heuristics": list(heuristics)}
    return _save(request, form, "cluster", parameters, result, info)


def _save(request: HttpRequest, form: SaveFindingForm, kind: str, parameters: dict[str, Any],
          result: dict[str, Any], info: services.StoreInfo) -> HttpResponse:
    try:
        finding = services.save_finding(
            form.cleaned_data["case"], kind=kind, parameters=parameters, result=result,
            info=info, user=request.user, title=form.cleaned_data.get("title") or "",
            note=form.cleaned_data.get("note") or "")
    except CaseError as exc:
        messages.error(request, str(exc))
        return redirect("ledger:index")
    messages.success(request, _("Finding recorded in case %(number)s.")
                     % {"number": finding.case.number})
    return redirect("ledger:finding", pk=finding.pk)


# --- traces ------------------------------------------------------------------------------


def _trace(form: TraceForm) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(parameters, result) of a valid form; the form carries the error otherwise."""
    if not form.is_valid():
        return None, None
    parameters = form.parameters()
    try:
        return parameters, services.run_trace(parameters)
    except TraceError as exc:
        form.add_error("seed", str(exc))
        return parameters, None


@login_required
@require_GET
def trace(request: HttpRequest) -> HttpResponse:
    info = services.store_info()
    if info.empty:
        return _empty(request, info)
    form = TraceForm(request.GET or None)
    parameters, result = _trace(form) if request.GET else (None, None)
    context: dict[str, Any] = {"form": form, "result": result, "parameters": parameters,
                               "nav": "ledger", "query": request.GET.urlencode()}
    if result is not None:
        context["elements"] = services.graph_elements(result)
        context["save_form"] = SaveFindingForm(user=request.user) if _can_edit(request) \
            else None
        context["bitcoin"] = result["ledger"] == "bitcoin"
        context["parameters_hidden"] = [
            (k, ", ".join(v) if isinstance(v, list) else v) for k, v in parameters.items()
        ] if parameters else []
    return render(request, "ledger/trace.html", context)


@login_required
@require_GET
def trace_export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in EXPORTS:
        raise Http404(fmt)
    info = services.store_info()
    if info.empty:
        raise Http404(_("The ledger store is empty."))
    form = TraceForm(request.GET)
    parameters, result = _trace(form)
    if parameters is None or result is None:
        raise Http404(" ".join(str(e) for e in form.errors.get("seed", [])) or "trace")
    return _export("trace", fmt, parameters, result, info.to_dict(),
                   f"trace-{slugify(parameters['seed'])[:40]}")


@login_required
@require_POST
def trace_save(request: HttpRequest) -> HttpResponse:
    """Run the trace again from its parameters (never trust a posted result) and save it."""
    if not _can_edit(request):
        raise PermissionDenied(_("Your role may read cases but not record findings."))
    info = services.store_info()
    trace_form = TraceForm(request.POST)
    parameters, result = _trace(trace_form)
    if parameters is None or result is None:
        messages.error(request, _("The trace could not be run again: %(errors)s")
                       % {"errors": "; ".join(str(m) for ms in trace_form.errors.values()
                                              for m in ms)})
        return redirect("ledger:trace")
    form = SaveFindingForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, _("Choose an open case you can see."))
        return redirect(reverse("ledger:trace") + "?" + _trace_query(parameters))
    return _save(request, form, "trace", parameters, result, info)


def _trace_query(parameters: dict[str, Any]) -> str:
    query = QueryDict(mutable=True)
    for key in ("seed", "direction", "hops", "model"):
        query[key] = str(parameters[key])
    query["stop"] = ", ".join(parameters["stop"])
    return query.urlencode()


# --- findings ----------------------------------------------------------------------------


def _case(request: HttpRequest, pk: int) -> Case:
    return get_object_or_404(Case.objects.visible_to(request.user), pk=pk)


def _finding(request: HttpRequest, pk: int) -> LedgerFinding:
    visible = Case.objects.visible_to(request.user)
    return get_object_or_404(
        LedgerFinding.objects.select_related("case", "created_by").filter(case__in=visible),
        pk=pk)


@login_required
@require_GET
def case_findings(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    findings = case.ledger_findings.select_related("created_by")
    return render(request, "ledger/findings.html",
                  {"case": case, "findings": findings, "nav": "cases"})


@login_required
@require_GET
def finding(request: HttpRequest, pk: int) -> HttpResponse:
    found = _finding(request, pk)
    context: dict[str, Any] = {"finding": found, "case": found.case, "result": found.result,
                               "parameters": found.parameters, "nav": "cases",
                               "result_sha256": services.result_sha256(found.result),
                               "parameter_rows": services.parameter_rows(found.parameters)}
    if found.kind == LedgerFinding.Kind.TRACE:
        context["elements"] = services.graph_elements(found.result)
        context["bitcoin"] = found.result.get("ledger") == "bitcoin"
    else:
        context["tagged"] = sorted(found.result.get("tags", {}).items())
    return render(request, "ledger/finding.html", context)


@login_required
@require_GET
def finding_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in EXPORTS:
        raise Http404(fmt)
    found = _finding(request, pk)
    source = {"root": "", "manifest_sha256": found.store_manifest_sha256,
              "parts": found.store_parts, "counts": {}, "first_written": None,
              "last_written": None, "tag_sources": []}
    name = f"{slugify(found.case.number)}-finding-{found.pk}"
    return _export(found.kind, fmt, found.parameters, found.result, source, name, found)
