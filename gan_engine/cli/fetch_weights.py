"""``fetch-weights``: put the canonical Inception weights in place, from the network or from a local copy.

The only code path that downloads. The file is written under a temporary name and moved into place only
once its SHA-256 matches, so a cut connection never leaves a file that looks right.
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from gan_engine.metrics.weights import INCEPTION_SHA256

    p = sub.add_parser(
        "fetch-weights",
        help="download (or copy) the Inception-v3 2015-12-05 weights and check their SHA-256",
        description="Fetch torch-fidelity's Inception-v3 2015-12-05 weights (the same file as pytorch-fid's "
        f"pt_inception-2015-12-05-6726825d.pth, SHA-256 {INCEPTION_SHA256}) into the path scoring reads: "
        "GAN_INCEPTION_WEIGHTS or ~/.cache/gan_engine/. On a machine without network, copy the file over and "
        "pass --from.",
    )
    p.add_argument("--out", help="where to write (default: GAN_INCEPTION_WEIGHTS or the cache path)")
    p.add_argument("--from", dest="source", metavar="FILE", help="copy this local file instead of downloading")
    p.add_argument("--url", action="append", help="download from this URL (repeatable; default: the known mirrors)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait on a silent connection")
    p.set_defaults(run=run)


def _download(url: str, dest, timeout: float) -> None:
    import shutil
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "gan_engine-fetch-weights"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as f:
        shutil.copyfileobj(response, f, 1 << 20)


def run(args: argparse.Namespace) -> int:
    import os
    import shutil
    from pathlib import Path

    from gan_engine.errors import ScorerError
    from gan_engine.metrics.weights import INCEPTION_SHA256, INCEPTION_URLS, inception_weights_path, sha256_file

    out = Path(args.out) if args.out else inception_weights_path()
    if out.is_file() and sha256_file(out) == INCEPTION_SHA256:
        print(f"{out} is already in place (SHA-256 {INCEPTION_SHA256})")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    failures = []
    sources = [args.source] if args.source else (args.url or list(INCEPTION_URLS))
    for source in sources:
        try:
            if args.source:
                shutil.copyfile(source, tmp)
            else:
                print(f"downloading {source}")
                _download(source, tmp, args.timeout)
        except OSError as exc:  # URLError and timeouts are OSErrors too
            failures.append(f"{source}: {getattr(exc, 'reason', None) or exc}")
            continue
        actual = sha256_file(tmp)
        if actual != INCEPTION_SHA256:
            failures.append(f"{source}: SHA-256 {actual}, expected {INCEPTION_SHA256}")
            continue
        os.replace(tmp, out)
        print(f"wrote {out} (SHA-256 {INCEPTION_SHA256})")
        return 0
    tmp.unlink(missing_ok=True)
    raise ScorerError(
        f"could not fetch the Inception weights into {out}: "
        + "; ".join(failures)
        + ". On a machine without network, copy the file from one that has it and run "
        f"fetch-weights --from FILE --out {out}"
    )
