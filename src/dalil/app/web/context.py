from typing import Any

from django.conf import settings
from django.http import HttpRequest

from dalil import __version__


def navigation(request: HttpRequest) -> dict[str, Any]:
    return {"DALIL_VERSION": __version__, "DALIL_LANGUAGES": settings.LANGUAGES}
