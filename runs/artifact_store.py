"""Where artifacts are kept: run folders (checkpoints, sample grids), pools and studies' images, by their path
relative to the store (what the database holds).

Two stores, one interface, chosen by ``ARTIFACTS_STORE``:

- ``local`` (the default): the folder ``ARTIFACTS_DIR``, one machine or a shared mount. The engine writes there
  directly, so moving a file in or out of the folder itself costs nothing.
- ``s3``: a bucket of an S3-compatible service (``ARTIFACTS_S3_*``), for hosts that share no file system. Each host
  keeps its working copies under its own ``ARTIFACTS_DIR``; ``put`` uploads one, ``get`` downloads one.

Torch-free, and boto3 is imported only by the S3 store: web processes use it as well as workers.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Files of a pool moved at once by put_folder/get_folder.
FOLDER_THREADS = 8
# Above this size a file goes in parts, several at once: a checkpoint of a large model is hundreds of MB.
MULTIPART_BYTES = 8 * 2**20
# A download or copy in progress: named so that it is neither listed nor mistaken for the file.
_PARTIAL = re.compile(r"^\..+\.partial-[0-9a-f]{8}$")


class ArtifactPathError(ValueError):
    """A path that is not a plain relative path inside the store."""


class StoreError(OSError):
    """The store refused an operation (permissions, a missing bucket); the message names the object."""


class StoreUnavailable(StoreError):
    """The store did not answer, or failed, through all of its retries: worth trying again later."""


def check_relative(relative: str) -> str:
    """``relative`` as given, when it names something inside the store: not absolute, no ``..`` or ``.``, no empty
    segment, no backslash (a path written on Windows) or NUL."""
    if not isinstance(relative, str) or not relative:
        raise ArtifactPathError(f"artifact path {relative!r}: expected a non-empty relative path")
    if relative.startswith("/") or re.match(r"^[A-Za-z]:", relative):
        raise ArtifactPathError(f"artifact path {relative!r}: must be relative to the store, not absolute")
    if "\\" in relative or "\0" in relative:
        raise ArtifactPathError(f"artifact path {relative!r}: '/' separates folders; no backslash or NUL")
    if any(part in ("", ".", "..") for part in relative.split("/")):
        raise ArtifactPathError(f"artifact path {relative!r}: no '..', '.' or empty segment")
    return relative


class ArtifactStore(ABC):
    """Files by relative path. Every write is atomic (a reader sees the old file or the new one, never a part), and
    a missing file raises FileNotFoundError in both stores."""

    @abstractmethod
    def put(self, relative: str, local_path: Path) -> None:
        """Store the local file under ``relative``, replacing what was there."""

    @abstractmethod
    def get(self, relative: str, local_path: Path) -> None:
        """Copy the stored file to ``local_path``, which holds the whole file or what it held before (or nothing)."""

    @abstractmethod
    def read_bytes(self, relative: str) -> bytes: ...

    @abstractmethod
    def exists(self, relative: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """The relative paths of the files under the folder ``prefix``, at any depth, sorted (zero-padded step
        numbers, as the run folder names checkpoints, sort oldest first)."""

    @abstractmethod
    def delete(self, relative: str) -> None:
        """Remove the file ``relative``, or everything under the folder ``relative``; nothing there is no error."""

    def put_folder(self, relative: str, local_folder: Path) -> None:
        """Store every file under ``local_folder`` beneath ``relative``. Files arrive one by one: a reader learns
        that a folder is complete from the database (a pool is marked written after this returns)."""
        check_relative(relative)
        local_folder = Path(local_folder)
        files = sorted(p for p in local_folder.rglob("*") if p.is_file() and not _PARTIAL.match(p.name))
        _each(lambda p: self.put(f"{relative}/{p.relative_to(local_folder).as_posix()}", p), files)

    def get_folder(self, relative: str, local_folder: Path) -> None:
        """Copy every file stored under ``relative`` into ``local_folder``; FileNotFoundError when there is none."""
        names = self.list(relative)
        if not names:
            raise FileNotFoundError(f"artifact folder {relative!r}: no file stored under it")
        local_folder = Path(local_folder)
        _each(lambda name: self.get(name, local_folder / name[len(relative) + 1 :]), names)


def _each(action: Callable[[Any], None], items: list[Any]) -> None:
    with ThreadPoolExecutor(FOLDER_THREADS) as pool:
        for _ in pool.map(action, items):  # the first error raised, once all have stopped
            pass


@contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A temporary file beside ``target`` to write; it replaces ``target`` when the block ends without error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


class LocalStore(ArtifactStore):
    """The folder ARTIFACTS_DIR: a stored path is ``root / relative``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, relative: str) -> Path:
        return self.root / check_relative(relative)

    def _copy(self, source: Path, target: Path) -> None:
        if source.resolve() == target.resolve():
            return  # the engine wrote it in place
        with _replacing(target) as partial:
            shutil.copyfile(source, partial)

    def put(self, relative: str, local_path: Path) -> None:
        self._copy(Path(local_path), self.path(relative))

    def get(self, relative: str, local_path: Path) -> None:
        source = self.path(relative)
        if not source.is_file():
            raise FileNotFoundError(f"artifact {relative!r}: no such file in {self.root}")
        self._copy(source, Path(local_path))

    def read_bytes(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def exists(self, relative: str) -> bool:
        return self.path(relative).is_file()

    def list(self, prefix: str) -> list[str]:
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        found = (p for p in folder.rglob("*") if p.is_file() and not _PARTIAL.match(p.name))
        return sorted(p.relative_to(self.root).as_posix() for p in found)

    def delete(self, relative: str) -> None:
        path = self.path(relative)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# Error codes of S3 that say "not now" rather than "no": after botocore's own retries they become StoreUnavailable.
_BUSY_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable", "InternalError"}
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class S3Store(ArtifactStore):
    """A bucket of an S3-compatible service; a stored path is the key ``prefix/relative``."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        max_attempts: int = 5,
    ):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        session = boto3.session.Session()
        if session.get_credentials() is None:
            raise ImproperlyConfigured(
                "ARTIFACTS_STORE=s3 found no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE, or give the host an instance role)"
            )
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=10,
            read_timeout=60,
            # A service of one's own (MinIO, Ceph, moto) is reached at its address, the bucket in the path: its
            # host name has no bucket subdomains.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self.client = session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES, max_concurrency=4
        )

    def key(self, relative: str) -> str:
        check_relative(relative)
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    @contextmanager
    def _errors(self, relative: str) -> Iterator[None]:
        """botocore's and s3transfer's errors as the store's: FileNotFoundError, StoreUnavailable, StoreError."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            where = f"artifact {relative!r} (s3://{self.bucket}/{self.key(relative)})"
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, ClientError):
                cause = cause.__cause__
            if isinstance(cause, ClientError):
                code = str(cause.response.get("Error", {}).get("Code", ""))
                status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                if code in _MISSING_CODES:
                    raise FileNotFoundError(f"{where}: no such object") from exc
                if code not in _BUSY_CODES and status < 500:
                    raise StoreError(f"{where}: {exc}") from exc
            last = getattr(exc, "last_exception", None)  # s3transfer's, after its own retries of a broken download
            raise StoreUnavailable(f"{where}: {exc}{f' ({last})' if last else ''}") from exc

    def put(self, relative: str, local_path: Path) -> None:
        with self._errors(relative):
            self.client.upload_file(str(local_path), self.bucket, self.key(relative), Config=self.transfer)

    def get(self, relative: str, local_path: Path) -> None:
        with self._errors(relative), _replacing(Path(local_path)) as partial:
            self.client.download_file(self.bucket, self.key(relative), str(partial), Config=self.transfer)

    def read_bytes(self, relative: str) -> bytes:
        with self._errors(relative):
            return self.client.get_object(Bucket=self.bucket, Key=self.key(relative))["Body"].read()

    def exists(self, relative: str) -> bool:
        try:
            with self._errors(relative):
                self.client.head_object(Bucket=self.bucket, Key=self.key(relative))
        except FileNotFoundError:
            return False
        return True

    def _keys(self, prefix: str) -> list[str]:
        with self._errors(prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key(prefix) + "/"
            )
            return [item["Key"] for page in pages for item in page.get("Contents", ())]

    def list(self, prefix: str) -> list[str]:
        return sorted(self._relative(key) for key in self._keys(prefix))

    def delete(self, relative: str) -> None:
        keys = [self.key(relative), *self._keys(relative)]
        with self._errors(relative):
            for start in range(0, len(keys), 1000):  # the most one request deletes
                objects = [{"Key": key} for key in keys[start : start + 1000]]
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
                if answer.get("Errors"):
                    raise StoreError(f"artifact {relative!r}: not deleted: {answer['Errors'][:3]}")


def artifact_store() -> ArtifactStore:
    """The store the settings choose, one per process (a client must not cross a fork: prefork workers, gunicorn)."""
    if settings.ARTIFACTS_STORE == "local":
        return _store(os.getpid(), "local", Path(settings.ARTIFACTS_DIR))
    if settings.ARTIFACTS_STORE == "s3":
        return _store(
            os.getpid(),
            "s3",
            settings.ARTIFACTS_S3_BUCKET,
            settings.ARTIFACTS_S3_PREFIX,
            settings.ARTIFACTS_S3_ENDPOINT_URL or None,
            settings.ARTIFACTS_S3_REGION or None,
            settings.ARTIFACTS_S3_MAX_ATTEMPTS,
        )
    raise ImproperlyConfigured(f"ARTIFACTS_STORE={settings.ARTIFACTS_STORE!r}: expected local or s3")


@functools.lru_cache(maxsize=8)
def _store(pid: int, kind: str, *args: Any) -> ArtifactStore:
    if kind == "local":
        return LocalStore(*args)
    bucket, prefix, endpoint_url, region, max_attempts = args
    return S3Store(bucket, prefix=prefix, endpoint_url=endpoint_url, region=region, max_attempts=max_attempts)


# --- A host's working copy: files under ARTIFACTS_DIR, by the path the engine writes them at ----------------------
# With the local store the working copy is the store, so each of these costs nothing more than today: a put or get
# of a file onto itself is skipped, and a read reads the file.


def relative_path(path: str | Path) -> str:
    """The store's name of a file of the working copy."""
    try:
        return Path(path).resolve().relative_to(settings.ARTIFACTS_DIR).as_posix()
    except ValueError:
        raise ArtifactPathError(f"{path}: not inside ARTIFACTS_DIR ({settings.ARTIFACTS_DIR})") from None


def read(path: Path) -> bytes:
    """The stored bytes of the working copy's file ``path`` (this host need not hold it)."""
    return artifact_store().read_bytes(relative_path(path))


def stored(path: Path) -> bool:
    return artifact_store().exists(relative_path(path))


def upload(path: Path) -> None:
    artifact_store().put(relative_path(path), path)


def download(path: Path) -> Path:
    """``path``, downloaded first when this host lacks it."""
    if not path.is_file():
        artifact_store().get(relative_path(path), path)
    return path
