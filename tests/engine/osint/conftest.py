from __future__ import annotations

import os
import subprocess

import pytest
from osint_servers import Servers, Site


@pytest.fixture
def servers():
    Site.pages = {}
    running = Servers()
    yield running
    running.close()


@pytest.fixture(scope="session")
def pgp_key(tmp_path_factory) -> tuple[str, str]:
    """(armoured public key, fingerprint) of a fresh key made by GnuPG itself."""
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    run = {"env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "Vendor <vendor@example.org>", "ed25519", "sign", "never"], **run)
    armoured = subprocess.run(["gpg", "--armor", "--export"], **run).stdout
    colons = subprocess.run(["gpg", "--with-colons", "--fingerprint"], **run).stdout
    fingerprint = next(line.split(":")[9] for line in colons.splitlines()
                       if line.startswith("fpr:"))
    return armoured, fingerprint
