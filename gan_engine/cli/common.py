"""Pieces the commands share: config options, the progress display."""

from __future__ import annotations

import argparse
import sys
import time

from gan_engine.config import TrainConfig, build_config, field_specs, load_config_file, parse_sets
from gan_engine.registry import RECIPES


def config_epilog() -> str:
    lines = ["settings (--set section.name=value):"]
    for spec in field_specs():
        choices = f" [{', '.join(spec.choices)}]" if spec.choices else ""
        lines.append(f"  {spec.name} = {spec.default!r}{choices}\n      {spec.help}")
    lines.append("recipes (--recipe NAME):")
    lines += [f"  {name}: {RECIPES.get(name).description}" for name in RECIPES.names()]
    return "\n".join(lines)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="JSON or TOML config file (partial: the rest are defaults)")
    parser.add_argument("--recipe", help="recipe whose defaults start the config (default: improved_gan_ssl)")
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override one setting"
    )


def config_from_args(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """The config that --config, --recipe and --set describe, on top of ``base`` when given."""
    overrides = load_config_file(args.config) if args.config else {}
    for key, value in parse_sets(args.sets).items():
        if isinstance(value, dict):
            overrides.setdefault(key, {}).update(value)
        else:
            overrides[key] = value
    if base is not None:
        return build_config(base.recipe, overrides, base=base.to_dict())
    return build_config(args.recipe, overrides)


class ProgressPrinter:
    """A one-line progress bar on a terminal; a line per report when output goes to a file."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self.started = time.monotonic()

    def __call__(self, p) -> None:
        done = int(self.width * p.fraction)
        bar = "#" * done + "." * (self.width - done)
        eta = f"{p.eta_seconds:5.0f}s" if p.eta_seconds is not None else "    ?"
        losses = " ".join(f"{k}={v:.3f}" for k, v in p.losses.items())
        metrics = " ".join(f"{k}={v:.4f}" for k, v in p.metrics.items())
        line = f"[{bar}] {p.step}/{p.total_steps} ep {p.epoch:.2f} {p.images_per_sec:6.0f} img/s eta {eta} {losses}"
        if self.tty and not metrics:
            self.stream.write("\r" + line[:200])
        else:
            self.stream.write(("\r" if self.tty else "") + line + (f" {metrics}" if metrics else "") + "\n")
        self.stream.flush()
