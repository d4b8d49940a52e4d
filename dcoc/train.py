"""``python -m dcoc.train --config experiments/NAME.yaml [--set key=value ...] [--run-dir DIR]
[--resume DIR] [--address ADDR]``: train the dcoc agents and write a run directory.

The run directory holds the resolved config, TensorBoard events (``tensorboard/``), RLlib
checkpoints (``checkpoints/iter_NNNN``), the records database (``records.sqlite``), the best
design (``best/``) and ``summary.json``. One progress line per iteration goes to stderr.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch / ray start their thread pools

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from dcoc.errors import ConfigError, SpecError
from dcoc.experiment.loader import describe_config, load_config
from dcoc.experiment.run_dir import CONFIG_FILE, default_run_dir
from dcoc.records import RecordsSchemaError

EXIT_CONFIG = 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dcoc.train",
        description="Train the dcoc agents (RLlib PPO / MAPPO) on an experiment config.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (YAML sections, or --set section.key=value):\n"
        + "\n".join(describe_config()),
    )
    p.add_argument("--config", help="experiment YAML (e.g. experiments/quickstart.yaml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, the value parsed as YAML (repeatable)",
    )
    p.add_argument(
        "--run-dir", type=Path, help="run directory (default runs/{name}__{seed}__{time})"
    )
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue RUN_DIR from its last checkpoint (its config.yaml plus any --set)",
    )
    p.add_argument("--address", help="Ray cluster to attach to (default: $RAY_ADDRESS or embedded)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


RESUMABLE_SECTIONS = ("train", "confidence", "ray", "experiment.name")
"""What --set may change on --resume; the env and the agents come from the checkpoint."""


def check_resume_overrides(overrides: Sequence[str]) -> None:
    for override in overrides:
        key = override.partition("=")[0].strip()
        if not key.startswith(RESUMABLE_SECTIONS):
            raise ConfigError(
                "--set",
                (key,),
                "cannot change on --resume (the env and the agents come from the checkpoint); "
                f"resumable: {', '.join(RESUMABLE_SECTIONS)}",
            )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("ray", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.resume is not None:
            if args.run_dir is not None and args.run_dir != args.resume:
                raise ConfigError("<command line>", ("--run-dir",), "give --resume or --run-dir")
            config_file = args.config or str(args.resume / CONFIG_FILE)
            if not Path(config_file).exists():
                raise ConfigError(config_file, (), "no config.yaml: is this a dcoc run directory?")
            run_dir = args.resume
        else:
            if args.config is None:
                raise ConfigError("<command line>", ("--config",), "give --config FILE.yaml")
            config_file = args.config
        if args.resume is not None:
            check_resume_overrides(args.overrides)
        config = load_config(config_file, args.overrides)
        if args.resume is None:
            run_dir = args.run_dir or default_run_dir(
                config.experiment.name, config.experiment.seed
            )
        from dcoc.experiment.runner import RunRequest, run  # imports ray and torch

        summary = run(
            RunRequest(
                config=config,
                config_file=config_file,
                run_dir=run_dir,
                resume=args.resume is not None,
                address=args.address,
            )
        )
    except (ConfigError, SpecError, RecordsSchemaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("interrupted: resume with --resume RUN_DIR", file=sys.stderr)
        return 130
    print(
        json.dumps(
            {k: summary[k] for k in ("best_objective", "iterations", "evaluations")}
            | {"run_dir": str(run_dir)}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
