from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("dalil.app.web.urls")),
    path("cases/", include("dalil.app.cases.urls")),
    path("jobs/", include("dalil.app.jobs.urls")),
    path("forensics/", include("dalil.app.forensics.urls")),
    path("scanning/", include("dalil.app.scanning.urls")),
    path("training/", include("dalil.app.training.urls")),
    path("ledger/", include("dalil.app.ledger.urls")),
]
