from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    label = "runs"
    verbose_name = "Training runs"
