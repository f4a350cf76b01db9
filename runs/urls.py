from django.urls import path

from runs import views

app_name = "runs"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("table/", views.run_table, name="table"),
    path("<int:pk>/", views.run_detail, name="detail"),
    path("<int:pk>/live/", views.run_live, name="live"),
    path("<int:pk>/metrics.json", views.run_metrics, name="metrics"),
    path("<int:pk>/metrics.csv", views.run_metrics_csv, name="metrics_csv"),
    path("<int:pk>/sample.png", views.run_sample, name="sample"),
    path("workers/", views.workers, name="workers"),
    path("compare/", views.compare, name="compare"),
    path("ablations/<int:pk>/", views.ablation_detail, name="ablation"),
]
