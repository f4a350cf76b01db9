"""A TCP proxy in threads that a test can cut and restore: the server behind it (the shared PostgreSQL) becomes
unreachable for whoever connects through the proxy, and only for them.

Cut, it drops every connection it carries and every new one as soon as it is accepted, as a server that
restarts does: the client's query fails with the connection lost, its next connect with the server closing it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from types import TracebackType

from django.db import connections

CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Drop the connection at once: shut down first, since closing a socket that another thread is reading
    neither wakes that thread nor ends the connection; SO_LINGER 0 drops what is still unsent."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextlib.contextmanager
def database_behind_proxy() -> Iterator[TcpProxy]:
    """Connections made from here on, in any thread (a live server's too), reach the database through a proxy.
    The connection settings are one dict that every thread's connection reads when it connects; connections open
    already (the test's own) stay direct."""
    settings = connections["default"].settings_dict
    host, port = settings["HOST"], settings["PORT"]
    with TcpProxy(host or "127.0.0.1", int(port or 5432)) as proxy:
        settings["HOST"], settings["PORT"] = "127.0.0.1", str(proxy.port)
        try:
            yield proxy
        finally:
            settings["HOST"], settings["PORT"] = host, port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for sock in self._open:
                _reset(sock)
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    _reset(client)
                    continue
                try:
                    server = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _reset(client)
                    continue
                server.settimeout(None)
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                for sock in (source, sink):
                    if sock in self._open:
                        self._open.discard(sock)
                        sock.close()
