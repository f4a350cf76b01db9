"""Training runs: models, the services that write them, Celery tasks, admin and the researchers' dashboard."""
