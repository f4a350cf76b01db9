"""The artifact store, both of its kinds through the same tests: the local folder, and an S3-compatible bucket on a
real server process (moto). What workers and web hosts rely on: round trips, checkpoints listed oldest first, pools
as folders, multipart for big files, downloads that never leave half a file, paths that stay inside the store,
settings that name themselves when wrong, and two hosts that share the bucket but no folder."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runs.artifact_store import (
    ArtifactPathError,
    LocalStore,
    S3Store,
    StoreUnavailable,
    artifact_store,
)
from runs.models import artifact_path
from testkit.servers import free_port

REPO = Path(__file__).resolve().parents[2]
CHECKPOINTS = "runs/r1/checkpoints"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Any:
    if request.param == "s3":
        request.getfixturevalue("s3_settings")
    else:
        settings.ARTIFACTS_STORE = "local"
        settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return artifact_store()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_settings_choose_the_store(store, settings):
    expected = S3Store if settings.ARTIFACTS_STORE == "s3" else LocalStore
    assert type(store) is expected
    assert artifact_store() is store  # one per process


def test_a_file_goes_in_and_comes_back(store, tmp_path):
    relative = f"{CHECKPOINTS}/step_00000600.pt"
    assert not store.exists(relative)
    store.put(relative, write(tmp_path / "worker" / "step_00000600.pt", b"weights v1"))
    assert store.exists(relative)
    assert store.read_bytes(relative) == b"weights v1"
    store.get(relative, tmp_path / "elsewhere" / "copy.pt")
    assert (tmp_path / "elsewhere" / "copy.pt").read_bytes() == b"weights v1"

    store.put(relative, write(tmp_path / "worker" / "again.pt", b"weights v2"))
    assert store.read_bytes(relative) == b"weights v2"
    store.get(relative, tmp_path / "elsewhere" / "copy.pt")
    assert (tmp_path / "elsewhere" / "copy.pt").read_bytes() == b"weights v2"

    store.delete(relative)
    assert not store.exists(relative)
    store.delete(relative)  # already gone: no error
    with pytest.raises(FileNotFoundError, match=r"step_00000600\.pt"):
        store.read_bytes(relative)
    with pytest.raises(FileNotFoundError, match=r"step_00000600\.pt"):
        store.get(relative, tmp_path / "missing" / "copy.pt")
    assert files_under(tmp_path / "missing") == {}


def test_checkpoints_are_listed_oldest_first(store, tmp_path):
    local = tmp_path / "worker"
    for step in (1200, 600, 10000, 3000):
        store.put(f"{CHECKPOINTS}/step_{step:08d}.pt", write(local / f"{step}.pt", str(step).encode()))
    store.put("runs/r1/samples/step_00000600.png", write(local / "grid.png", b"grid"))
    store.put("runs/r10/checkpoints/step_00000001.pt", write(local / "other.pt", b"another run"))

    listed = store.list(CHECKPOINTS)
    assert listed == [f"{CHECKPOINTS}/step_{step:08d}.pt" for step in (600, 1200, 3000, 10000)]
    assert store.read_bytes(listed[-1]) == b"10000"  # the newest, the one a run resumes from
    # A folder, not a prefix of names: runs/r1 holds nothing of runs/r10.
    assert store.list("runs/r1") == sorted([*listed, "runs/r1/samples/step_00000600.png"])
    assert store.list("runs/r") == []
    assert store.list("runs/none/checkpoints") == []


def test_a_pool_folder_goes_in_and_comes_back(store, tmp_path):
    pool = tmp_path / "worker" / "pool"
    write(pool / "pool.json", b'{"files": []}')
    for i in range(12):
        write(pool / f"{i:05d}.png", os.urandom(300 + i))
    write(pool / "scores" / "extra.json", b"{}")
    store.put_folder("pools/0a1b", pool)

    assert store.list("pools/0a1b") == sorted(f"pools/0a1b/{name}" for name in files_under(pool))
    assert store.read_bytes("pools/0a1b/00003.png") == (pool / "00003.png").read_bytes()
    store.get_folder("pools/0a1b", tmp_path / "web" / "pool")
    assert files_under(tmp_path / "web" / "pool") == files_under(pool)

    store.delete("pools/0a1b")
    assert store.list("pools/0a1b") == [] and not store.exists("pools/0a1b/pool.json")
    with pytest.raises(FileNotFoundError, match="pools/0a1b"):
        store.get_folder("pools/0a1b", tmp_path / "web" / "again")


def test_a_big_checkpoint_goes_in_parts(store, settings, tmp_path):
    data = os.urandom(9 * 2**20 + 12345)
    store.put(f"{CHECKPOINTS}/step_00099999.pt", write(tmp_path / "big.pt", data))
    store.get(f"{CHECKPOINTS}/step_00099999.pt", tmp_path / "back" / "big.pt")
    back = (tmp_path / "back" / "big.pt").read_bytes()
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    if settings.ARTIFACTS_STORE == "s3":
        head = store.client.head_object(Bucket=store.bucket, Key=store.key(f"{CHECKPOINTS}/step_00099999.pt"))
        assert head["ETag"].strip('"').endswith("-2"), head["ETag"]  # an upload of two parts
        assert head["ContentLength"] == len(data)


BAD_PATHS = ["", "/etc/passwd", "../secret", "runs/../../secret", "runs//x", "runs/./x", "runs/x/", "C:/x", "a\\b"]


@pytest.mark.parametrize("relative", BAD_PATHS)
def test_paths_outside_the_store_are_refused(store, tmp_path, relative):
    source = write(tmp_path / "file", b"x")
    calls = [
        lambda: store.put(relative, source),
        lambda: store.get(relative, tmp_path / "out"),
        lambda: store.read_bytes(relative),
        lambda: store.exists(relative),
        lambda: store.list(relative),
        lambda: store.delete(relative),
        lambda: store.put_folder(relative, tmp_path),
        lambda: store.get_folder(relative, tmp_path / "out-folder"),
    ]
    for call in calls:
        with pytest.raises(ArtifactPathError, match="artifact path"):
            call()
    assert not (tmp_path / "out").exists() and not (tmp_path / "out-folder").exists()


def test_the_local_store_is_the_artifacts_folder(settings, tmp_path):
    """What the engine writes in ARTIFACTS_DIR is stored already: put and get of the file itself copy nothing."""
    settings.ARTIFACTS_STORE = "local"
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    store = artifact_store()
    relative = f"{CHECKPOINTS}/step_00000600.pt"
    written = write(artifact_path(relative), b"weights")
    store.put(relative, written)
    store.get(relative, written)
    assert store.path(relative) == written and written.read_bytes() == b"weights"
    assert store.list(CHECKPOINTS) == [relative]
    assert files_under(settings.ARTIFACTS_DIR) == {relative: b"weights"}
    # A copy in progress is neither listed nor taken for the file.
    write(written.with_name(".step_00000900.pt.partial-0123abcd"), b"half")
    assert store.list(CHECKPOINTS) == [relative]


class CuttingProxy:
    """Forwards TCP connections to a server, but hangs up on each after ``limit`` bytes of the server's answer:
    a connection that breaks in the middle of a download, every time."""

    def __init__(self, upstream_port: int, limit: int):
        self.upstream_port, self.limit = upstream_port, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.limit), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while limit is None or sent < limit:
                data = source.recv(65536)
                if not data:
                    break
                data = data if limit is None else data[: limit - sent]
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def test_a_download_cut_off_leaves_the_previous_file(s3_settings, tmp_path):
    store = artifact_store()
    relative = f"{CHECKPOINTS}/step_00001200.pt"
    store.put(relative, write(tmp_path / "big.pt", os.urandom(12 * 2**20)))
    target = write(tmp_path / "host" / "step_00001200.pt", b"the copy from before")

    proxy = CuttingProxy(int(s3_settings.ARTIFACTS_S3_ENDPOINT_URL.rsplit(":", 1)[1]), limit=2**20)
    s3_settings.ARTIFACTS_S3_ENDPOINT_URL = f"http://127.0.0.1:{proxy.port}"
    try:
        with pytest.raises(StoreUnavailable, match=r"step_00001200\.pt"):
            artifact_store().get(relative, target)
    finally:
        proxy.listener.close()
    assert files_under(tmp_path / "host") == {"step_00001200.pt": b"the copy from before"}


def test_an_unreachable_store_fails_after_bounded_retries(s3_settings, tmp_path):
    s3_settings.ARTIFACTS_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = artifact_store()
    relative = f"{CHECKPOINTS}/step_00000600.pt"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"step_00000600\.pt"):
        store.get(relative, tmp_path / "host" / "step_00000600.pt")
    with pytest.raises(StoreUnavailable):
        store.put(relative, write(tmp_path / "file.pt", b"x"))
    with pytest.raises(StoreUnavailable):
        store.read_bytes(relative)
    with pytest.raises(StoreUnavailable):
        store.list(CHECKPOINTS)
    assert time.monotonic() - started < 60
    assert files_under(tmp_path / "host") == {}


def _start_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = "import webapp.settings"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ARTIFACTS_STORE": "ftp"}, "ARTIFACTS_STORE='ftp'"),
        ({"ARTIFACTS_STORE": "s3"}, "ARTIFACTS_S3_BUCKET=''"),
        ({"ARTIFACTS_STORE": "s3", "ARTIFACTS_S3_BUCKET": "Not_A_Bucket"}, "ARTIFACTS_S3_BUCKET='Not_A_Bucket'"),
        (
            {"ARTIFACTS_STORE": "s3", "ARTIFACTS_S3_BUCKET": "vtl", "ARTIFACTS_S3_ENDPOINT_URL": "minio:9000"},
            "ARTIFACTS_S3_ENDPOINT_URL='minio:9000'",
        ),
        ({"ARTIFACTS_S3_PREFIX": "lab/../other"}, "ARTIFACTS_S3_PREFIX='lab/../other'"),
        ({"ARTIFACTS_S3_MAX_ATTEMPTS": "many"}, "ARTIFACTS_S3_MAX_ATTEMPTS='many'"),
        ({"ARTIFACTS_S3_MAX_ATTEMPTS": "0"}, "ARTIFACTS_S3_MAX_ATTEMPTS='0'"),
    ],
)
def test_a_wrong_setting_stops_the_process_naming_it(env, named):
    result = _start_settings(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and named in result.stderr, result.stderr[-2000:]


def test_a_complete_s3_configuration_starts():
    env = {
        "ARTIFACTS_STORE": "S3",
        "ARTIFACTS_S3_BUCKET": "vtl-artifacts",
        "ARTIFACTS_S3_ENDPOINT_URL": "https://minio.internal:9000",
        "ARTIFACTS_S3_PREFIX": "/lab/prod/",
    }
    result = _start_settings(env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_credentials_are_named(s3_settings, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    s3_settings.ARTIFACTS_S3_PREFIX = "no-credentials"  # another store than the one the fixture's settings built
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="AWS_ACCESS_KEY_ID"):
        artifact_store()


WORKER_HOST = textwrap.dedent(
    """
    import django
    from pathlib import Path

    django.setup()
    from django.conf import settings
    from runs.artifact_store import artifact_store

    store = artifact_store()
    root = Path(settings.ARTIFACTS_DIR)
    for step in (600, 1200):
        relative = f"runs/r1/checkpoints/step_{step:08d}.pt"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(f"weights at {step}".encode())
        store.put(relative, root / relative)
    pool = root / "pools/0a1b"
    pool.mkdir(parents=True)
    (pool / "pool.json").write_text('{"files": [{"name": "00000.png"}]}')
    (pool / "00000.png").write_bytes(b"\\x89PNG pixels")
    store.put_folder("pools/0a1b", pool)
    """
)


def test_a_host_reads_what_another_wrote_with_no_shared_folder(s3_settings, tmp_path):
    worker_dir, web_dir = tmp_path / "worker-host", tmp_path / "web-host"
    env = {
        "ARTIFACTS_STORE": "s3",
        "ARTIFACTS_DIR": str(worker_dir),
        "ARTIFACTS_S3_BUCKET": s3_settings.ARTIFACTS_S3_BUCKET,
        "ARTIFACTS_S3_ENDPOINT_URL": s3_settings.ARTIFACTS_S3_ENDPOINT_URL,
        "ARTIFACTS_S3_PREFIX": s3_settings.ARTIFACTS_S3_PREFIX,
    }
    worker = subprocess.run(
        [sys.executable, "-c", WORKER_HOST],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    written = files_under(worker_dir)

    s3_settings.ARTIFACTS_DIR = web_dir
    store = artifact_store()
    newest = store.list(CHECKPOINTS)[-1]
    assert newest == f"{CHECKPOINTS}/step_00001200.pt"
    store.get(newest, artifact_path(newest))
    assert artifact_path(newest).read_bytes() == b"weights at 1200"
    assert store.read_bytes("pools/0a1b/00000.png") == b"\x89PNG pixels"
    store.get_folder("pools/0a1b", artifact_path("pools/0a1b"))
    assert files_under(web_dir / "pools/0a1b") == files_under(worker_dir / "pools/0a1b")
    # Each host has its own files: the web host read nothing from the worker's folder, nor wrote to it.
    assert files_under(worker_dir) == written
    assert set(files_under(web_dir)) == {newest, "pools/0a1b/pool.json", "pools/0a1b/00000.png"}
