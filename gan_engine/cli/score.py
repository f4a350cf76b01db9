"""``score``: Inception Score, FID and KID of a pool, printed and stored in its manifest."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from gan_engine.metrics.scorers import SCORERS

    lines = [f"  {name}: {SCORERS.get(name).description}" for name in SCORERS.names()]
    p = sub.add_parser(
        "score",
        help="IS, FID and KID of a pool with a named scorer; stored in the pool's manifest",
        description="Score a pool (from sample or real-pool): the Inception Score (mean ± std over splits, as "
        "the paper's code computes it) and, against a dataset's cached real statistics, FID and KID. The "
        "result, with the scorer's name and weights SHA-256, is appended to the pool's pool.json.",
        epilog="scorers:\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pool", required=True, metavar="DIR", help="pool folder")
    p.add_argument("--scorer", default="inception", help="scorer name (default: inception)")
    p.add_argument("--splits", type=int, default=10, help="IS splits (default: 10, the paper's)")
    p.add_argument("--real", metavar="DATASET", help="dataset for FID/KID (default: the pool's or scorer's dataset)")
    p.add_argument("--real-split", choices=("train", "test"), default="train", help="its split (default: train)")
    p.add_argument("--real-n", type=int, help="real images used (default: the whole split; cached once computed)")
    p.add_argument("--data-dir", help="folder of the real dataset's files")
    p.add_argument("--no-fid", action="store_true", help="IS only")
    p.add_argument("--no-kid", action="store_true", help="skip KID")
    p.add_argument("--weights", help="Inception weights file (default: GAN_INCEPTION_WEIGHTS or the cache)")
    p.add_argument("--scorer-dir", help="domain scorer folder (default: GAN_SCORER_DIR or the cache)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the stored record as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from gan_engine.errors import ConfigError
    from gan_engine.metrics.real_stats import real_statistics
    from gan_engine.metrics.scorers import SCORERS, load_scorer
    from gan_engine.metrics.scoring import score_images
    from gan_engine.pool_tensors import read_pool
    from gan_engine.pools import record_scores

    if args.scorer not in SCORERS:
        raise ConfigError({"--scorer": f"unknown scorer {args.scorer!r}; choose one of {', '.join(SCORERS.names())}"})
    info = SCORERS.get(args.scorer)
    images, manifest = read_pool(args.pool)
    pool_dataset = manifest.get("source", {}).get("dataset")
    if info.kind == "domain" and pool_dataset not in (None, info.dataset):
        raise ConfigError({"--scorer": f"{args.scorer} was trained on {info.dataset}; this pool is of {pool_dataset}"})
    options = {"weights": args.weights} if info.kind == "canonical" else {"folder": args.scorer_dir}
    scorer = load_scorer(args.scorer, args.device, **options)

    def progress(label: str):
        tty = sys.stderr.isatty()
        shown = [0]

        def report(done: int, total: int) -> None:
            # A live counter on a terminal; in a log, a line per tenth.
            if tty:
                print(
                    f"\r{label}: {done}/{total} images", end="\n" if done == total else "", file=sys.stderr, flush=True
                )
            elif done == total or done * 10 // total > shown[0]:
                shown[0] = done * 10 // total
                print(f"{label}: {done}/{total} images", file=sys.stderr, flush=True)

        return report

    real = None
    dataset = args.real or info.dataset or pool_dataset
    if not args.no_fid:
        if dataset is None:
            print("no real dataset known for this pool: FID skipped (pass --real DATASET)", file=sys.stderr)
        else:
            real = real_statistics(
                scorer,
                dataset,
                args.real_split,
                args.real_n,
                data_dir=args.data_dir,
                batch_size=args.batch_size,
                on_batch=progress(f"real statistics ({dataset} {args.real_split}, cached after)"),
            )
    record = score_images(
        images,
        scorer,
        splits=args.splits,
        real=real,
        kid=not args.no_kid,
        batch_size=args.batch_size,
        on_batch=progress(f"scoring {args.pool}"),
    )
    record_scores(args.pool, record)
    if args.json:
        print(json.dumps({k: v for k, v in record.items() if k != "image_kl"}, indent=2))
        return 0
    print(f"scorer {scorer.name} (weights {scorer.weights_sha256[:12]}), {record['n']} images")
    print(f"IS  {record['is_mean']:.4f} ± {record['is_std']:.4f} over {args.splits} splits")
    if "fid" in record:
        r = record["real"]
        print(f"FID {record['fid']:.4f} against {r['dataset']} {r['split']} ({r['n']} images)")
    if "kid_mean" in record:
        print(f"KID {record['kid_mean']:.6f} ± {record['kid_std']:.6f}")
    return 0
