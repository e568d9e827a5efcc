from django.urls import path

from dalil.app.cases import views

app_name = "cases"
urlpatterns = [
    path("", views.case_list, name="list"),
    path("new/", views.case_create, name="create"),
    path("<int:pk>/", views.case_detail, name="detail"),
    path("<int:pk>/verify/", views.case_verify, name="verify"),
    path("<int:pk>/export/<slug:what>/", views.case_export, name="export"),
    path("<int:pk>/case-uco/", views.case_caseuco, name="caseuco"),
    path("<int:pk>/scene/", views.scene_edit, name="scene_new"),
    path("<int:pk>/scene/<int:scene_pk>/", views.scene_edit, name="scene_edit"),
    path("<int:pk>/scene/check/", views.scene_check, name="scene_check"),
    path("<int:pk>/exhibits/new/", views.exhibit_add, name="exhibit_add"),
    path("<int:pk>/exhibits/<int:exhibit_pk>/", views.exhibit_detail, name="exhibit"),
    path("<int:pk>/exhibits/<int:exhibit_pk>/custody/", views.custody_add, name="custody_add"),
    path("<int:pk>/exhibits/<int:exhibit_pk>/photos/", views.photo_add, name="photo_add"),
    path("<int:pk>/exhibits/<int:exhibit_pk>/acquire/", views.acquire, name="acquire"),
    path("<int:pk>/exhibits/<int:exhibit_pk>/photos/<int:photo_pk>/", views.photo_view,
         name="photo"),
]
