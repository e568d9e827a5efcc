"""The training pages in Russian: the interface through gettext, the lab in the class's language."""

from __future__ import annotations

import pytest
from django.utils import translation

from dalil.app.training.models import Variant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_afterwards():
    """A request in Russian leaves Russian active in this thread: do not leak it."""
    yield
    translation.activate("en")


def test_the_lab_page_in_russian(as_trainee, trainee, lab):
    lab.training_class.language = "ru"
    lab.training_class.save()
    variant = Variant.objects.get(assignment=lab, trainee=trainee)
    as_trainee.post("/i18n/setlang/", {"language": "ru"})
    html = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    assert '<html lang="ru">' in html
    for text in ("Задания", "Вводная", "Доказательства", "Отправить ответ", "Обучение",
                 "Показать подсказку"):
        assert text in html, text
    assert variant.briefing["ru"].splitlines()[0].lstrip("# ") in html  # the Russian story
    assert "Снимите образ usb.img" in html  # the Russian question


def test_the_class_page_in_russian(as_trainer, lab):
    as_trainer.post("/i18n/setlang/", {"language": "ru"})
    html = as_trainer.get(f"/training/classes/{lab.training_class_id}/").content.decode()
    for text in ("Назначить лабораторную работу", "Слушатели", "Экспорт в CSV",
                 "Курс 1: первое реагирование", "Ключ ответов"):
        assert text in html, text
