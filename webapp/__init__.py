"""The Django project: settings, urls, the Celery app and the researchers' dashboard."""

# Loaded with Django so that tasks sent from views and admin actions use this app's broker settings.
from webapp.celery import app as celery_app

__all__ = ("celery_app",)
