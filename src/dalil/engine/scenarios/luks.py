"""LUKS1 containers around a given file system image, for exercises and tests.

Why this way: ``cryptsetup open`` needs root, the device-mapper and a loop device, none of
which CI runners, containers or a trainee's laptop reliably give. ``cryptsetup luksFormat``
on a regular file needs none of them: it writes the header and the key slot for the
passphrase, with a volume key we choose. The payload is then encrypted here with that
volume key, as dm-crypt would (``aes-xts-plain64``: AES-XTS, 512-byte sectors, the tweak
the sector number in little endian), so the container decrypts with the passphrase to
exactly ``inner``, byte for byte.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECTOR = 512
# The header and key material take 2 MiB with cryptsetup's LUKS1 defaults (payload at
# sector 4096); the file is made that much larger than the payload.
HEADER_ROOM = 2 * 1024 * 1024
# The volume key (aes-xts-plain64 with 512-bit keys: two AES-256 keys). Fixed, so that the
# same inner image and passphrase give a container that decrypts the same way; it is a
# training fixture, not a secret.
VOLUME_KEY = bytes(range(64))


class LuksScenarioError(RuntimeError):
    """The container could not be made (cryptsetup missing or failing); says why."""


def luks1_container(path: Path, inner: bytes, passphrase: str,
                    iterations: int = 1000) -> Path:
    """Write at ``path`` a LUKS1 container whose passphrase ``passphrase`` unlocks
    ``inner`` (its length a multiple of 512). ``iterations`` is the PBKDF2 count: low by
    default, so that unlocking it in an exercise takes no time."""
    if len(inner) % SECTOR:
        raise LuksScenarioError(f"{path}: the inner image is {len(inner)} bytes, not a "
                                f"multiple of {SECTOR}")
    if shutil.which("cryptsetup") is None:
        raise LuksScenarioError("cryptsetup not found: install Debian's cryptsetup-bin")
    with open(path, "wb") as handle:
        handle.truncate(HEADER_ROOM + len(inner))
    with tempfile.TemporaryDirectory(prefix="luks-") as folder:
        key_file = Path(folder) / "volume.key"
        key_file.write_bytes(VOLUME_KEY)
        _cryptsetup(path, ["luksFormat", "-q", "--type", "luks1", "--cipher",
                           "aes-xts-plain64", "--key-size", "512",
                           "--pbkdf-force-iterations", str(iterations),
                           "--master-key-file", str(key_file), "--key-file", "-", str(path)],
                    passphrase.encode())
    dump = _cryptsetup(path, ["luksDump", str(path)], b"")
    payload = next((int(line.split()[-1]) * SECTOR for line in dump.splitlines()
                    if line.startswith("Payload offset")), None)
    if payload is None:
        raise LuksScenarioError(f"{path}: luksDump shows no payload offset")
    with open(path, "r+b") as handle:
        handle.seek(payload)
        for sector in range(len(inner) // SECTOR):
            tweak = struct.pack("<Q", sector) + bytes(8)
            encryptor = Cipher(algorithms.AES(VOLUME_KEY), modes.XTS(tweak)).encryptor()
            handle.write(encryptor.update(inner[sector * SECTOR:(sector + 1) * SECTOR])
                         + encryptor.finalize())
        handle.truncate(max(payload + len(inner), HEADER_ROOM + len(inner)))
    return path


def _cryptsetup(path: Path, args: list[str], stdin: bytes) -> str:
    result = subprocess.run(["cryptsetup", *args], input=stdin, capture_output=True,
                            check=False)
    if result.returncode != 0:
        detail = " ".join(result.stderr.decode("utf-8", "replace").split())[:2000]
        raise LuksScenarioError(f"{path}: cryptsetup {args[0]} failed "
                                f"({result.returncode}): {detail}")
    return result.stdout.decode("utf-8", "replace")
