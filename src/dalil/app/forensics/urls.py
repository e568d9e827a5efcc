from django.urls import path

from dalil.app.forensics import views

app_name = "forensics"
_exhibit = "cases/<int:pk>/exhibits/<int:exhibit_pk>/"
_file = _exhibit + "files/<int:record_pk>/"
urlpatterns = [
    path(_exhibit + "ingest/", views.ingest, name="ingest"),
    path(_exhibit + "files/", views.browse, name="browse"),
    path(_file, views.file_view, name="file"),
    path(_file + "preview/", views.file_preview, name="preview"),
    path(_file + "export/", views.file_export, name="export"),
    path(_file + "bookmark/", views.bookmark_add, name="bookmark_add"),
    path(_exhibit + "timeline/", views.timeline, name="timeline"),
    path(_exhibit + "artifacts/", views.artifacts, name="artifacts"),
    path("cases/<int:pk>/bookmarks/", views.bookmarks, name="bookmarks"),
]
