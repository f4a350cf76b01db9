"""Django's PostgreSQL backend whose health check reads the connection's socket instead of sending ``SELECT 1``.

With CONN_HEALTH_CHECKS, Django checks a kept connection at each request's first query: ``SELECT 1``, a round
trip to the database on every request, a share of each annotator request's time and of the database's CPU. An
idle connection has nothing to read: everything a query returns is read before the query ends. A server that
ended the connection (a restart, a crash, an idle timeout) has said so on it, with its termination message or the
socket's end, so the socket is readable; a connection the driver found broken is closed. Either way the check
fails and Django connects again, as with ``SELECT 1``. A host that vanished without a word passes the check; the
request's first query then fails, and webapp.outage answers 503 and closes the connection.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        # poll, not select: a worker serving many clients may hold descriptors past select's limit.
        poller = select.poll()
        try:
            poller.register(self.connection.fileno(), select.POLLIN)
        except (OSError, ValueError):
            return False
        return not poller.poll(0)
