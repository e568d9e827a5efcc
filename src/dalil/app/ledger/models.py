"""Ledger findings: a trace or a cluster saved into a case, with its provenance."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class LedgerFinding(models.Model):
    """A trace or cluster result as it was when saved, and what produced it.

    ``parameters`` are the inputs (seed, direction, hops, model, heuristics...), ``result``
    the engine's output as JSON, ``store_manifest_sha256`` the SHA-256 of the ledger store's
    manifest at the time (which parts, hence which blocks and tags, the result was read
    from), and ``engine_version`` the Dalil version that computed it. Written once.
    """

    class Kind(models.TextChoices):
        TRACE = "trace", _("Trace")
        CLUSTER = "cluster", _("Cluster")

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT,
                             related_name="ledger_findings")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=300)
    parameters = models.JSONField(_("parameters"))
    result = models.JSONField(_("result"))
    store_manifest_sha256 = models.CharField(_("store manifest SHA-256"), max_length=64)
    store_parts = models.PositiveIntegerField(_("store parts"), default=0)
    engine_version = models.CharField(_("engine version"), max_length=40)
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="ledger_findings")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.case.number}: {self.title}"
