"""Encryption layer: is this volume BitLocker or LUKS, and open it with the key given.

Detection reads only the volume's first sector: BitLocker's OEM id ``-FVE-FS-`` at offset
3 (Windows 7 and later) or the BitLocker To Go / Vista identifier GUID in the boot
sector; LUKS's magic ``LUKS\\xba\\xbe`` and its version. An encrypted volume without a key
is reported as such, never as "no file system". With a key, libbde (BitLocker: recovery
password, password or ``.BEK`` startup key file) or libluksde (LUKS1: passphrase or key
file) decrypts it, and the result is an :class:`Image` layer that the volume and
file-system layers read like any other media.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dalil.engine.forensics.image import Image, ImageRegion, _LibyalReader

_BITLOCKER_OEM = b"-FVE-FS-"
# 4967d63b-2e29-4ad8-8399-f6a339e3d001, the BitLocker identifier, as stored on disk.
_BITLOCKER_GUID = bytes.fromhex("3bd66749292ed84a8399f6a339e3d001")
_BITLOCKER_GUID_OFFSETS = (160, 424)  # Vista volume header; BitLocker To Go header
_LUKS_MAGIC = b"LUKS\xba\xbe"


class UnlockError(Exception):
    """The key was refused or the volume could not be decrypted; names image and offset."""


@dataclass(frozen=True)
class Encryption:
    """An encrypted volume found at ``offset`` bytes from the start of the media."""

    kind: str  # bitlocker, bitlocker-to-go, luks1, luks2
    offset: int

    @property
    def label(self) -> str:
        return {"bitlocker": "BitLocker", "bitlocker-to-go": "BitLocker To Go",
                "luks1": "LUKS1", "luks2": "LUKS2"}.get(self.kind, self.kind)

    @property
    def is_bitlocker(self) -> bool:
        return self.kind.startswith("bitlocker")

    @property
    def key_options(self) -> str:
        """The CLI options that unlock it, for messages."""
        if self.is_bitlocker:
            return "--recovery-password (or --password, or --key-file with a .BEK startup key)"
        return "--password (or --key-file)"

    @property
    def first_key_option(self) -> str:
        """The CLI option an examiner most often has the key for."""
        return "--recovery-password" if self.is_bitlocker else "--password"

    def locked_message(self, where: str) -> str:
        return (f"{where}: {self.label} volume at offset {self.offset}: supply "
                f"{self.first_key_option} to decrypt it ({self.key_options})")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "label": self.label, "offset": self.offset}


@dataclass(frozen=True)
class Keys:
    """What the examiner supplied to unlock encrypted volumes."""

    password: str | None = None
    recovery_password: str | None = None
    key_file: str | None = None

    def __bool__(self) -> bool:
        return bool(self.password or self.recovery_password or self.key_file)


def detect_encryption(image: Image, offset: int) -> Encryption | None:
    """BitLocker or LUKS at ``offset``, from the first sector, or None."""
    head = image.read(offset, 512)
    if len(head) < 8:
        return None
    if head[3:11] == _BITLOCKER_OEM:
        return Encryption("bitlocker", offset)
    if any(head[at:at + 16] == _BITLOCKER_GUID for at in _BITLOCKER_GUID_OFFSETS):
        return Encryption("bitlocker-to-go", offset)
    if head.startswith(_LUKS_MAGIC):
        version = struct.unpack_from(">H", head, 6)[0]
        return Encryption(f"luks{version}" if version in (1, 2) else "luks1", offset)
    return None


def _key_text(path: str, where: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnlockError(f"{where}: cannot read key file {path}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnlockError(f"{where}: key file {path} is not UTF-8 text; libluksde takes "
                          "text passphrases only") from exc


def unlock(image: Image, encryption: Encryption, size: int, keys: Keys) -> Image:
    """The decrypted volume as an :class:`Image` layer, or :class:`UnlockError`."""
    where = image.where()
    if not keys:
        raise UnlockError(encryption.locked_message(where))
    region = ImageRegion(image, encryption.offset, size)
    handle: Any
    try:
        if encryption.is_bitlocker:
            try:
                import pybde
            except ImportError as exc:
                raise UnlockError(f"{where}: BitLocker needs libbde-python "
                                  "(pip install libbde-python)") from exc
            handle = pybde.volume()
            if keys.recovery_password:
                handle.set_recovery_password(keys.recovery_password)
            if keys.password:
                handle.set_password(keys.password)
            if keys.key_file:
                handle.read_startup_key(keys.key_file)
            handle.open_file_object(region)
        else:
            if encryption.kind == "luks2":
                raise UnlockError(f"{where}: LUKS2 volume at offset {encryption.offset}: "
                                  "libluksde reads LUKS1 only; decrypt it with cryptsetup")
            try:
                import pyluksde
            except ImportError as exc:
                raise UnlockError(f"{where}: LUKS needs libluksde-python "
                                  "(pip install libluksde-python)") from exc
            handle = pyluksde.volume()
            handle.open_file_object(region)
            if keys.password:
                handle.set_password(keys.password)
            elif keys.key_file:
                handle.set_password(_key_text(keys.key_file, where))
            else:
                raise UnlockError(encryption.locked_message(where))
            handle.unlock()
    except (OSError, ValueError, TypeError) as exc:
        detail = " ".join(str(exc).split())
        raise UnlockError(f"{where}: {encryption.label} volume at offset {encryption.offset}: "
                          f"cannot open: {detail}") from exc
    if handle.is_locked():
        handle.close()
        raise UnlockError(f"{where}: {encryption.label} volume at offset {encryption.offset}: "
                          f"the key was refused ({encryption.key_options})")
    decrypted = int(handle.get_size())
    return Image.layered(image, _LibyalReader(handle, decrypted), decrypted, image.info.container,
                         f"{encryption.label} volume at offset {encryption.offset}, decrypted")
