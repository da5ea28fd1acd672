"""``bpnetkit demo``: build a semi-synthetic data set and run the whole pipeline on it."""

from __future__ import annotations

import argparse

HELP = "build a semi-synthetic dataset and run the whole pipeline on it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--out", default="bpnetkit_demo", help="output folder "
                        "(default ./bpnetkit_demo)")
    parser.add_argument("--model", choices=["bpnet", "chrombpnet"], default="bpnet",
                        help="BPNet on ChIP-nexus-like reads (default) or ChromBPNet on "
                             "ATAC-like fragments")
    parser.add_argument("--size", choices=["default", "small"], default="default",
                        help="data and model size (small: a quicker run)")
    peaks = parser.add_mutually_exclusive_group()
    peaks.add_argument("--call-peaks", dest="call_peaks", action="store_true", default=None,
                       help="call peaks with MACS3 (default when MACS3 is installed)")
    peaks.add_argument("--true-peaks", dest="call_peaks", action="store_false",
                       help="use the simulated peaks instead of calling them")
    parser.add_argument("--device", default=None, help="torch device (default: auto)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--force", action="store_true", help="re-run every step")


def run(args: argparse.Namespace) -> int:
    """Run the demo; print the step table and the planted-motif summary."""
    from bpnetkit.demo.run import print_result, run_demo

    res = run_demo(args.out, model=args.model, size=args.size, call_peaks=args.call_peaks,
                   device=args.device, random_state=args.seed, force=args.force)
    print_result(res)
    return 0 if res.summary.ok else 1
