"""The interface in the seven languages: switching with set_language, Russian in full."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

import dalil.app

pytestmark = pytest.mark.django_db

LOCALE = Path(dalil.app.__file__).parent / "locale"


def test_switching_to_russian_translates_the_case_page(as_examiner, case):
    response = as_examiner.post("/i18n/setlang/", {"language": "ru",
                                                   "next": f"/cases/{case.pk}/"})
    assert response.status_code == 302
    html = as_examiner.get(f"/cases/{case.pk}/").content.decode()
    assert '<html lang="ru">' in html
    for text in ("Вещественные доказательства", "Цепочка хранения", "Проверить целостность",
                 "Постановление об обыске", "Эксперт", "Выйти"):
        assert text in html, text


def test_the_scene_checklist_is_translated(as_examiner, case):
    as_examiner.post("/i18n/setlang/", {"language": "ru"})
    html = as_examiner.get(f"/cases/{case.pk}/scene/").content.decode()
    assert "Укажите время прибытия" in html
    assert "NIJ ch. 3" in html  # references stay as cited


@pytest.mark.parametrize("code,login", [("kk", "Кіру"), ("ky", "Кирүү"), ("tg", "Ворид шудан"),
                                        ("tk", "Giriş"), ("uz", "Kirish")])
def test_login_page_in_each_central_asian_language(client, code, login):
    client.post("/i18n/setlang/", {"language": code})
    html = client.get("/login/").content.decode()
    assert f'<html lang="{code}">' in html
    assert login in html


@pytest.mark.parametrize("code", ["ru", "kk", "ky", "tg", "tk", "uz"])
def test_compiled_catalogs_ship_with_the_package(code):
    mo = LOCALE / code / "LC_MESSAGES" / "django.mo"
    assert mo.is_file(), f"run `make messages`: {mo} is missing"
    with mo.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)
    assert catalog.gettext("Cases") != "Cases"


def test_russian_catalog_is_complete():
    text = (LOCALE / "ru" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # after the header
    empty = re.compile(r'^msgstr(\[\d\])? ""$(?!\n")', re.MULTILINE)
    untranslated = [entry for entry in entries if empty.search(entry)]
    assert not untranslated, untranslated[:3]
    assert "#, fuzzy" not in text
