from django.urls import path

from dalil.app.scanning import views

app_name = "scanning"
_exhibit = "cases/<int:pk>/exhibits/<int:exhibit_pk>/"
_run = _exhibit + "runs/<int:run_pk>/"
urlpatterns = [
    path(_exhibit + "scan/", views.start, name="start"),
    path(_exhibit + "findings/", views.findings, name="findings"),
    path(_exhibit + "findings/export.csv", views.findings_export, {"fmt": "csv"},
         name="findings_csv"),
    path(_exhibit + "findings/export.xlsx", views.findings_export, {"fmt": "xlsx"},
         name="findings_xlsx"),
    path(_exhibit + "findings/<int:finding_pk>/bookmark/", views.bookmark_add,
         name="bookmark_add"),
    path(_run + "features.zip", views.download_features, name="features"),
    path(_run + "report.xml", views.download_report, name="report"),
    path("cases/<int:pk>/indicators/", views.indicators, name="indicators"),
    path("cases/<int:pk>/indicators/feed/", views.feed_upload, name="feed_upload"),
    path("cases/<int:pk>/indicators/stop-list/", views.stop_list_upload,
         name="stop_list_upload"),
]
