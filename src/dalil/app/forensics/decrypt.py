"""Decrypt an encrypted volume of an exhibit into a derived exhibit, then examine that.

The forensic practice for BitLocker and LUKS: the examiner's key opens the volume once,
its decrypted bytes are stored (hashed on the way in) as a new exhibit derived from the
source, and every later step (ingest, browsing, timeline) reads that exhibit like any
other image, without a key. Custody records on both exhibits what was done: the source
and its SHA-256, the volume, the encryption, the library, which kind of key was given,
the result's hashes. The key itself is never stored: not in the database, not in the
custody log, not in a job's parameters (this runs in the caller's process, not as a job).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import transaction

from dalil import __version__
from dalil.app.cases import services as cases
from dalil.app.cases.models import Exhibit, ExhibitType
from dalil.app.forensics.services import (
    ImageCheck,
    IngestError,
    QuietContext,
    exhibit_text,
    image_path,
)
from dalil.engine.evidence.blobstore import CHUNK, BlobStoreError, StoredBlob
from dalil.engine.forensics.encryption import (
    Encryption,
    Keys,
    UnlockError,
    detect_encryption,
    unlock,
)
from dalil.engine.forensics.filesystem import FileSystemError, select_volume
from dalil.engine.forensics.image import Image, ImageError, TskImage, open_image
from dalil.engine.forensics.volume import Volume


class DecryptError(cases.CaseError):
    """The volume could not be decrypted into a derived exhibit; names exhibit, volume and
    offset. Nothing was recorded."""


def key_kinds(keys: Keys) -> list[str]:
    """Which kinds of key were supplied, for the custody log (never the keys)."""
    return [kind for kind, given in (("passphrase", keys.password),
                                     ("recovery password", keys.recovery_password),
                                     ("key file", keys.key_file)) if given]


def _library(encryption: Encryption) -> dict[str, str]:
    """The libyal library that decrypts this kind of volume, with its version."""
    name, module = ("libbde", "pybde") if encryption.is_bitlocker else ("libluksde", "pyluksde")
    try:
        version = str(__import__(module).get_version())
    except (ImportError, AttributeError):
        version = ""
    return {"name": name, "version": version}


def decrypt_exhibit(
    exhibit: Exhibit,
    *,
    volume: int | None,
    keys: Keys,
    actor: str,
    progress: Callable[[int, int], None] | None = None,
    number: str | None = None,
) -> Exhibit:
    """Store the decrypted bytes of encrypted ``volume`` (``mmls`` slot; None: the only
    one) of ``exhibit``'s image as a new exhibit derived from it (``number``, default the
    next ``E1.N``), with an ``acquired`` custody entry on the source and a ``created`` one
    on the result. ``progress(done, total)`` counts decrypted bytes.

    Raises :class:`DecryptError`: the volume is not encrypted, no key or a wrong key was
    given, the image is unreadable or changed meanwhile. Nothing is recorded then.
    """
    exhibit = Exhibit.objects.select_related("case").get(pk=exhibit.pk)
    # The source's SHA-256 is checked before (alongside the decryption) and after, as for
    # every examination that reads it.
    try:
        check = ImageCheck(exhibit)
    except IngestError as exc:
        raise DecryptError(str(exc)) from exc
    try:
        with image_path(exhibit) as path, _opened(exhibit, path) as image:
            chosen, encryption = _encrypted_volume(exhibit, image, volume)
            where = (f"exhibit {exhibit}, volume {chosen.index} at offset "
                     f"{chosen.offset}")
            size = chosen.size or image.size - chosen.offset
            try:
                inner = unlock(image, encryption, size, keys)
            except UnlockError as exc:
                raise DecryptError(_refused(exc, where, encryption, keys, path.parent,
                                            exhibit)) from exc
            try:
                blob = _store(inner, where, progress)
            finally:
                inner.close()
        before = check.wait()
        after, how = check.after(QuietContext())
    except IngestError as exc:
        raise DecryptError(str(exc)) from exc
    finally:
        check.close()
    return _record(exhibit, chosen, encryption, keys, blob, actor, number,
                   {"before": before, "after": after, "after_how": how})


@contextmanager
def _opened(exhibit: Exhibit, path: Path) -> Iterator[Image]:
    """The exhibit's image, opened read-only, closed at the end of the block."""
    try:
        image = open_image(path)
    except ImageError as exc:
        raise DecryptError(exhibit_text(str(exc), path.parent, exhibit)) from exc
    try:
        yield image
    finally:
        image.close()


def _encrypted_volume(exhibit: Exhibit, image: Image,
                      index: int | None) -> tuple[Volume, Encryption]:
    try:
        chosen = select_volume(image, index, TskImage(image))
    except (FileSystemError, ImageError) as exc:
        raise DecryptError(f"exhibit {exhibit}: "
                           f"{str(exc).split(': ', 1)[-1]}") from exc
    encryption = detect_encryption(image, chosen.offset) if chosen.offset < image.size else None
    if encryption is None:
        raise DecryptError(f"exhibit {exhibit}: volume {chosen.index} at offset "
                           f"{chosen.offset} is not encrypted: ingest the exhibit itself")
    return chosen, encryption


def _refused(exc: UnlockError, where: str, encryption: Encryption, keys: Keys,
             folder: Path, exhibit: Exhibit) -> str:
    """The unlock failure, named by exhibit, volume and offset (not the temporary link)."""
    if not keys:
        return (f"{where}: {encryption.label} volume is locked: supply "
                f"{encryption.first_key_option} to decrypt it ({encryption.key_options}); "
                f"nothing was stored")
    detail = exhibit_text(str(exc), folder, exhibit)
    marker = f"volume at offset {encryption.offset}: "
    detail = detail.split(marker, 1)[1] if marker in detail else detail.split(": ", 1)[-1]
    return f"{where}: {encryption.label} volume: {detail}; nothing was stored"


def _chunks(inner: Image, where: str) -> Iterator[bytes]:
    offset = 0
    while offset < inner.size:
        data = inner.read(offset, min(CHUNK, inner.size - offset))
        if not data:
            raise DecryptError(f"{where}: the decrypted volume ends at byte {offset} of "
                               f"{inner.size}; nothing was stored")
        offset += len(data)
        yield data


def _store(inner: Image, where: str,
           progress: Callable[[int, int], None] | None) -> StoredBlob:
    total = inner.size

    def advance(done: int) -> None:
        if progress is not None:
            progress(done, total)

    try:
        return cases.blob_store().put_chunks(_chunks(inner, where), total, advance,
                                             cases.EXHIBIT_HASHES)
    except ImageError as exc:
        raise DecryptError(f"{where}: cannot read the decrypted volume: "
                           f"{str(exc).split(': ')[-1]}; nothing was stored") from exc
    except BlobStoreError as exc:
        raise DecryptError(f"{where}: {exc}") from exc


def _record(source: Exhibit, volume: Volume, encryption: Encryption, keys: Keys,
            blob: StoredBlob, actor: str, number: str | None,
            source_check: dict[str, str]) -> Exhibit:
    case = source.case
    recorded = source.files.order_by("order", "id").first()
    number = number or cases.next_derived_number(source)
    name = f"{source.number}-volume{volume.index}-decrypted.raw"
    provenance: dict[str, Any] = {
        "method": "decryption",
        "source_exhibit": source.number,
        "source_sha256": recorded.sha256 if recorded else "",
        "source_sha256_check": source_check,
        "volume": {"index": volume.index, "offset": volume.offset,
                   "size": volume.size or None},
        "encryption": {"type": encryption.kind, "label": encryption.label,
                       "offset": encryption.offset},
        "library": _library(encryption),
        "key_supplied": key_kinds(keys),  # which kinds only: a key is never recorded
        "size": blob.size,
        "hashes": blob.hashes,
        "tool": "dalil",
        "tool_version": __version__,
    }
    with transaction.atomic():
        derived = cases.add_exhibit_from_blobs(
            case, number=number, actor=actor, blobs=[(name, blob)], action="created",
            details={**provenance, "derived_from": source.number}, parent=source,
            type=ExhibitType.IMAGE,
            description=(f"{encryption.label} volume {volume.index} of exhibit "
                         f"{source.number} (offset {volume.offset}), decrypted"))
        cases.record_custody(case, source, "acquired", actor,
                             {**provenance, "image": name, "image_exhibit": derived.number})
    return derived
