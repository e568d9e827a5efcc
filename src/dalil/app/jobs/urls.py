from django.urls import path

from dalil.app.jobs import views

app_name = "jobs"
urlpatterns = [
    path("<int:pk>/", views.job_status, name="status"),
    path("<int:pk>/cancel/", views.job_cancel, name="cancel"),
    path("<int:pk>/download/", views.job_download, name="download"),
]
