from django.urls import path

from dalil.app.training import views

app_name = "training"
urlpatterns = [
    path("", views.home, name="home"),
    path("classes/", views.class_list, name="classes"),
    path("classes/new/", views.class_create, name="class_create"),
    path("classes/<int:pk>/", views.class_detail, name="class"),
    path("classes/<int:pk>/enrol/", views.class_enrol, name="enrol"),
    path("classes/<int:pk>/assign/", views.class_assign, name="assign"),
    path("assignments/<int:pk>/retry/", views.assignment_retry, name="retry"),
    path("assignments/<int:pk>/progress/", views.assignment_progress, name="progress"),
    path("assignments/<int:pk>/progress.csv", views.assignment_csv, name="progress_csv"),
    path("assignments/<int:pk>/progress.xlsx", views.assignment_xlsx, name="progress_xlsx"),
    path("classes/<int:pk>/grading/", views.grading_queue, name="grading"),
    path("results/<int:pk>/grade/", views.grade_result, name="grade"),
    path("preview/", views.preview_list, name="preview_list"),
    path("preview/<slug:template_id>/", views.preview_variant, name="preview"),
    path("templates/check/", views.template_check, name="template_check"),
    path("labs/", views.my_labs, name="my_labs"),
    path("labs/<int:pk>/", views.lab_detail, name="lab"),
    path("labs/<int:pk>/key/", views.variant_key, name="key"),
    path("labs/<int:pk>/evidence/<str:name>", views.lab_evidence, name="evidence"),
    path("labs/<int:pk>/tasks/<slug:task_id>/answer/", views.lab_answer, name="answer"),
    path("labs/<int:pk>/tasks/<slug:task_id>/hint/", views.lab_hint, name="hint"),
]
