from django.urls import path

from dalil.app.ledger import views

app_name = "ledger"
urlpatterns = [
    path("", views.index, name="index"),
    path("address/<str:address>/", views.address, name="address"),
    path("tx/<str:txid>/", views.transaction, name="transaction"),
    path("cluster/<str:address>/", views.cluster, name="cluster"),
    path("cluster/<str:address>/why/", views.cluster_why, name="why"),
    path("cluster/<str:address>/export/<slug:fmt>/", views.cluster_export,
         name="cluster_export"),
    path("cluster/<str:address>/save/", views.cluster_save, name="cluster_save"),
    path("trace/", views.trace, name="trace"),
    path("trace/export/<slug:fmt>/", views.trace_export, name="trace_export"),
    path("trace/save/", views.trace_save, name="trace_save"),
    path("cases/<int:pk>/findings/", views.case_findings, name="findings"),
    path("findings/<int:pk>/", views.finding, name="finding"),
    path("findings/<int:pk>/export/<slug:fmt>/", views.finding_export, name="finding_export"),
]
