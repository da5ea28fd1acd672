"""``bpnetkit pipeline -p pipeline.json``: run every step from reads to motifs."""

from __future__ import annotations

import argparse

HELP = "run the whole pipeline, reads to motifs, from one JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    from bpnetkit.cli.common import add_params_argument
    from bpnetkit.pipeline.builders import STEP_ORDER

    parser.epilog = "steps, in order: " + ", ".join(STEP_ORDER)
    add_params_argument(parser, "pipeline (ours or bpnet-lite's)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--from", dest="from_step", metavar="STEP",
                       help="re-run this step and all later ones")
    group.add_argument("--only", metavar="STEP", help="run just this step")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (what would run, what is up to date); run nothing")
    parser.add_argument("--force", action="store_true", help="re-run every step")
    parser.add_argument("--output-dir", default=None, help="run folder (overrides the JSON)")


def run(args: argparse.Namespace) -> int:
    """Run the pipeline; exit code 1 when a step failed or was unavailable."""
    from bpnetkit.pipeline import load_pipeline_params, run_pipeline

    cfg = load_pipeline_params(args.params)
    if args.output_dir:
        cfg.output_dir = args.output_dir
    summary = run_pipeline(cfg, from_step=args.from_step, only=args.only,
                           dry_run=args.dry_run, force=args.force)
    print(summary.table())
    report = summary.outputs().get("report", {}).get("html")
    if report:
        print(f"\nreport: {report}")
    return 0 if summary.ok else 1
