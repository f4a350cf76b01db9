"""What the tests, the benchmarks and the fault scenarios share: factories of the lab's rows, the servers they
start (Redis, Celery workers, the web server, PostgreSQL databases), deploy/'s files read as their programs read them,
the annotator's page driven in a browser, and simulated annotators with their measurements.

Never imported by the lab itself (an import-linter contract keeps it so).
"""
