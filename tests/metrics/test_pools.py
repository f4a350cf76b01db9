"""Pools: one encoder for real and generated images, a manifest beside them, nothing else that differs."""

from __future__ import annotations

import json
import os
import re
import struct

import pytest
import torch

from gan_engine.cli import main
from gan_engine.errors import PoolError
from gan_engine.pool_tensors import read_pool, write_pool
from gan_engine.pools import FILE_MTIME, check_servable_together, encode_png, record_scores


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every PNG chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        out.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def fake_images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB")])
def test_round_trip_keeps_pixels_order_and_seeds(tmp_path, channels, mode):
    images = fake_images(5, channels)
    out = write_pool(images, tmp_path / "pool", {"checkpoint": "ckpt.pt", "step": 7}, seeds=[10, 11, 12, 13, 14])
    back, manifest = read_pool(out)
    assert torch.equal(back, images)
    assert manifest["kind"] == "generated" and manifest["mode"] == mode and manifest["size"] == [28, 28]
    assert manifest["count"] == 5 and manifest["source"] == {"checkpoint": "ckpt.pt", "step": 7}
    assert [f["seed"] for f in manifest["files"]] == [10, 11, 12, 13, 14]
    names = [f["name"] for f in manifest["files"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}\.png", n) for n in names)
    assert sorted(os.listdir(out)) == sorted([*names, "pool.json"])


def test_real_and_generated_files_differ_only_in_pixels(tmp_path):
    real_dir = tmp_path / "real"
    assert main(["real-pool", "--dataset", "digits", "--n", "6", "--out", str(real_dir), "--seed", "3"]) == 0
    real, real_manifest = read_pool(real_dir)
    fake_dir = write_pool(fake_images(6), tmp_path / "fake", {"checkpoint": "x"}, seeds=list(range(6)))
    _, fake_manifest = read_pool(fake_dir)
    check_servable_together(real_manifest, fake_manifest)

    def metadata(folder, manifest):
        out = []
        for entry in manifest["files"]:
            path = folder / entry["name"]
            parts = chunks(path.read_bytes())
            # Everything but the compressed pixels: the header, the chunk sequence, the file's times.
            out.append(([t for t, _ in parts], parts[0][1], os.stat(path).st_mtime))
        return out

    real_meta, fake_meta = metadata(real_dir, real_manifest), metadata(fake_dir, fake_manifest)
    assert real_meta[0][0][0] == b"IHDR" and set(real_meta[0][0][1:-1]) == {b"IDAT"}  # no ancillary chunk
    assert {(tuple(t), h) for t, h, _ in real_meta} | {(tuple(t), h) for t, h, _ in fake_meta} == {
        (tuple(real_meta[0][0]), real_meta[0][1])
    }
    assert {m for _, _, m in real_meta + fake_meta} == {FILE_MTIME}
    # The same pixels give the same bytes, whichever pool they came from.
    copy_dir = write_pool(real, tmp_path / "copy", {"checkpoint": "y"})
    _, copy_manifest = read_pool(copy_dir)
    for a, b in zip(real_manifest["files"], copy_manifest["files"], strict=True):
        assert (real_dir / a["name"]).read_bytes() == (copy_dir / b["name"]).read_bytes()
        assert a["name"] != b["name"]


def test_real_pool_records_dataset_indices(tmp_path):
    from gan_engine.config import DataConfig
    from gan_engine.data import load_dataset

    out = tmp_path / "real"
    assert main(["real-pool", "--dataset", "digits", "--n", "4", "--out", str(out), "--split", "test"]) == 0
    images, manifest = read_pool(out)
    assert manifest["kind"] == "real" and manifest["source"]["dataset"] == "digits"
    indices = [f["index"] for f in manifest["files"]]
    assert len(set(indices)) == 4
    assert torch.equal(images, load_dataset(DataConfig(dataset="digits"), "test").images[indices])


def test_a_non_empty_folder_is_refused_by_name(tmp_path):
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "other.txt").write_text("x")
    with pytest.raises(PoolError, match=re.escape(f"pool folder {tmp_path / 'pool'} is not empty")):
        write_pool(fake_images(1), tmp_path / "pool", {})


@pytest.mark.parametrize(
    "images, match",
    [
        (torch.zeros(2, 2, 8, 8, dtype=torch.uint8), "1 \\(grey\\) or 3"),
        (torch.zeros(2, 1, 8, 8), "uint8"),
        (torch.zeros(0, 1, 8, 8, dtype=torch.uint8), "empty"),
    ],
)
def test_bad_images_are_refused(tmp_path, images, match):
    with pytest.raises(PoolError, match=match):
        write_pool(images, tmp_path / "p", {})


def test_scores_are_appended_with_the_scorer_identity(tmp_path):
    out = write_pool(fake_images(2), tmp_path / "p", {})
    with pytest.raises(PoolError, match="weights_sha256"):
        record_scores(out, {"scorer": "inception", "is_mean": 1.0})
    record_scores(out, {"scorer": "inception", "weights_sha256": "ab" * 32, "is_mean": 1.5})
    record_scores(out, {"scorer": "digits_cnn", "weights_sha256": "cd" * 32, "is_mean": 2.5})
    scores = json.loads((out / "pool.json").read_text())["scores"]
    assert [s["scorer"] for s in scores] == ["inception", "digits_cnn"]


def test_a_missing_file_or_manifest_is_named(tmp_path):
    with pytest.raises(PoolError, match=r"pool\.json not found"):
        read_pool(tmp_path)
    out = write_pool(fake_images(2), tmp_path / "p", {})
    _, manifest = read_pool(out)
    (out / manifest["files"][1]["name"]).unlink()
    with pytest.raises(PoolError, match=re.escape(manifest["files"][1]["name"]) + " is listed .* but missing"):
        read_pool(out)


def test_pools_of_different_sizes_cannot_be_served_together(tmp_path):
    a = write_pool(fake_images(1, size=28), tmp_path / "a", {})
    b = write_pool(fake_images(1, size=32), tmp_path / "b", {})
    with pytest.raises(PoolError, match="size"):
        check_servable_together(read_pool(a)[1], read_pool(b)[1])


def test_encoder_is_deterministic():
    pixels = fake_images(1)[0, 0].numpy()
    assert encode_png(pixels) == encode_png(pixels.copy())
