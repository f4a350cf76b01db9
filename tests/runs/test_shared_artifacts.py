"""Several hosts, one artifact store: the database holds paths relative to ARTIFACTS_DIR, so a host that mounts
the store somewhere else reads every file a worker on another host wrote."""

from __future__ import annotations

import shutil

import pytest
from django.urls import reverse

from annotation import images
from runs import actions
from runs.models import Checkpoint, ImagePool, JobStatus, RunStatus, artifact_path
from testkit.factories import tiny_config
from testkit.servers import wait_for, wait_for_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_host_mounting_the_store_elsewhere_reads_what_a_worker_wrote(start_worker, staff_client, settings, tmp_path):
    worker_mount = tmp_path / "gpu-host" / "srv" / "artifacts"
    start_worker("gpu-host", env={"ARTIFACTS_DIR": str(worker_mount)})
    run = actions.create_run(tiny_config(), name="written on another host")
    run = wait_for_run(run.pk, 90, "the run to finish", lambda r: r.status == RunStatus.DONE)
    pool = actions.sample_pool(run, size=6)
    wait_for(lambda: ImagePool.objects.get(pk=pool.pk).status in (JobStatus.DONE, JobStatus.FAILED), 90, "the pool")
    pool.refresh_from_db()
    assert pool.status == JobStatus.DONE, pool.error

    # The web host mounts the same store at another path (here: the files moved there).
    web_mount = tmp_path / "web-host" / "mnt" / "lab"
    web_mount.parent.mkdir(parents=True)
    shutil.move(worker_mount, web_mount)
    settings.ARTIFACTS_DIR = web_mount

    stored = [run.sample_grid, pool.path, *Checkpoint.objects.filter(run=run).values_list("path", flat=True)]
    for path in stored:
        assert path and not path.startswith("/") and "gpu-host" not in path, f"an absolute path is stored: {path}"
    for checkpoint in Checkpoint.objects.filter(run=run, pruned=False):
        assert checkpoint.file.is_file(), checkpoint.file
    assert artifact_path(run.sample_grid).is_file()
    pool = ImagePool.objects.get(pk=pool.pk)
    listed = images.read_manifest(pool)
    assert len(listed) == 6 and all(images.image_path(pool, image.file).is_file() for image in listed)
    grid = staff_client.get(reverse("runs:sample", args=[run.pk]))
    assert grid.status_code == 200 and b"".join(grid.streaming_content).startswith(b"\x89PNG")
