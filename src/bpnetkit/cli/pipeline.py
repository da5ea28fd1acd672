"""``bpnetkit pipeline -p pipeline.json``: run every step from reads to motifs."""

from __future__ import annotations

import argparse

HELP = "run the whole pipeline, reads to motifs, from one JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    from bpnetkit.pipeline.registry import STEP_ORDER

    parser.epilog = "steps, in order: " + ", ".join(STEP_ORDER)
    parser.add_argument("-p", "--params", metavar="JSON", default=None,
                        help="the pipeline JSON (ours or bpnet-lite's)")
    parser.add_argument("--print-defaults", action="store_true",
                        help="print a pipeline JSON with every key and every step's knobs at "
                             "their defaults, and exit (bpnetkit pipeline-json fills in the "
                             "data)")
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
    from bpnetkit.errors import ConfigError
    from bpnetkit.pipeline import load_pipeline_params, run_pipeline

    if args.print_defaults:
        import json

        from bpnetkit.cli.pipeline_json import complete
        from bpnetkit.config import to_dict
        from bpnetkit.pipeline.config import PipelineParams

        print(json.dumps(to_dict(complete(PipelineParams())), indent=2))
        return 0
    if not args.params:
        raise ConfigError("give the pipeline JSON as -p pipeline.json (write one with "
                          "bpnetkit pipeline-json).")
    cfg = load_pipeline_params(args.params)
    if args.output_dir:
        cfg.output_dir = args.output_dir
    summary = run_pipeline(cfg, from_step=args.from_step, only=args.only,
                           dry_run=args.dry_run, force=args.force)
    print(summary.table())
    report = summary.outputs().get("report")
    if report is not None:
        print(f"\nreport: {report.html}")
    return 0 if summary.ok else 1
