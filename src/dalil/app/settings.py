"""The one settings module. Everything site-specific comes from DALIL_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url

from dalil.app.config import dalil_home

BASE_DIR = Path(__file__).resolve().parent
DALIL_HOME = dalil_home()
DALIL_HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    # A fresh install gets its own key, kept in DALIL_HOME, rather than a shared default.
    if key := os.environ.get("DALIL_SECRET_KEY"):
        return key
    path = DALIL_HOME / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("DALIL_DEBUG", "0") == "1"
ALLOWED_HOSTS = [
    h for h in os.environ.get("DALIL_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h
]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("DALIL_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "dalil.app.accounts",
    "dalil.app.cases",
    "dalil.app.jobs",
    "dalil.app.forensics",
    "dalil.app.scanning",
    "dalil.app.training",
    "dalil.app.ledger",
    "dalil.app.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dalil.app.urls"
WSGI_APPLICATION = "dalil.app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dalil.app.web.context.navigation",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    url = os.environ.get("DALIL_DATABASE_URL") or f"sqlite:///{DALIL_HOME / 'dalil.sqlite3'}"
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
    if config["ENGINE"].endswith("sqlite3"):
        # WAL lets the web server read while a worker writes a long job's progress.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000;",
            "transaction_mode": "IMMEDIATE",
        }
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cases:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("ru", "Русский"),
    ("kk", "Қазақша"),
    ("ky", "Кыргызча"),
    ("tg", "Тоҷикӣ"),
    ("tk", "Türkmençe"),
    ("uz", "Oʻzbekcha"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = os.environ.get("DALIL_TIME_ZONE", "UTC")
# Ingest computes MD5 and SHA-256 of every file, and SHA-1 too unless this is 0 (see
# dalil.app.forensics.services.ingest_algorithms).
DALIL_INGEST_SHA1 = os.environ.get("DALIL_INGEST_SHA1", "1") != "0"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DALIL_HOME / "static"

# Uploads stream to temporary files in DALIL_HOME, never into memory beyond this size.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(DALIL_HOME / "tmp")
(DALIL_HOME / "tmp").mkdir(exist_ok=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

TASKS = {
    "default": {
        "BACKEND": os.environ.get(
            "DALIL_TASK_BACKEND", "django_tasks_db.DatabaseBackend"
        ),
    }
}

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DALIL_LOG_LEVEL", "WARNING")},
}
