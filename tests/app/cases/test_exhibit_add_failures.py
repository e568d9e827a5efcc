"""Adding an exhibit fails cleanly: a full disk or an unreadable source records nothing."""

from __future__ import annotations

import errno
import io
import os

import pytest

from dalil.app.cases import services
from dalil.app.cases.models import CustodyEntry, Exhibit

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    return services.create_case(number="TM-1", title="Card fraud", actor="officer")


def test_a_full_disk_gives_a_clear_error_and_no_exhibit(case, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(services.CaseError, match=r"exhibit E1 \(dump.bin\): disk full"):
        services.add_exhibit(case, number="E1", actor="officer",
                             content=io.BytesIO(b"x" * 5000), content_name="dump.bin")
    assert not Exhibit.objects.filter(case=case).exists()
    assert CustodyEntry.objects.filter(case=case).count() == 1  # only the case's creation


def test_an_unreadable_source_gives_a_clear_error_and_no_exhibit(case):
    class FailingDevice(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(services.CaseError, match="cannot read sdb: Input/output error"):
        services.add_exhibit(case, number="E1", actor="officer", content=FailingDevice(),
                             content_name="sdb")
    assert not Exhibit.objects.filter(case=case).exists()
    assert services.verify_case(case, "auditor", record=False).intact
