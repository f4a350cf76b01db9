"""A real S3-compatible server for the artifact store's tests: moto in server mode, a process of its own on a free
port, spoken to over HTTP as MinIO or AWS would be. Its fixtures are a pytest plugin of every test folder
(tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.servers import free_port

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a moto server started for this session, once it answers HTTP."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"moto_server exited with {server.returncode}: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # an answer, whatever its status
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on {endpoint} within 60 s: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials for the test server, and none of the developer's own (profiles, instance metadata)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def s3_bucket(s3_endpoint: str, aws_environment: None) -> str:
    """A new, empty bucket of this test's own."""
    import boto3

    name = f"vtl-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_settings(settings: Any, s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> Any:
    """The settings of a host that keeps its artifacts in the test bucket, its working copy in a folder of its own."""
    settings.ARTIFACTS_STORE = "s3"
    settings.ARTIFACTS_DIR = tmp_path / "s3-host"
    settings.ARTIFACTS_S3_BUCKET = s3_bucket
    settings.ARTIFACTS_S3_ENDPOINT_URL = s3_endpoint
    settings.ARTIFACTS_S3_PREFIX = "lab/one"
    settings.ARTIFACTS_S3_REGION = ""
    settings.ARTIFACTS_S3_MAX_ATTEMPTS = 2
    return settings
