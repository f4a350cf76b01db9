"""Training runs: models, the actions and worker steps that write them, Celery tasks, admin and the dashboard."""
