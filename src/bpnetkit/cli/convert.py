"""``bpnetkit convert``: Keras, bpnet-lite, state-dict or archive models -> native folders."""

from __future__ import annotations

import argparse

HELP = "convert Keras / bpnet-lite / state-dict models to bpnetkit files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bpnetkit convert``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="model files: Keras .h5 (ChromBPNet, basepairmodels), bpnet-lite "
                             ".torch, state dicts, .tar.gz archives, bpnetkit folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="output folder (one input) or parent folder (several inputs)")
    parser.add_argument("--preset", default=None,
                        help="architecture preset for plain state dicts (procapnet, bpnet, "
                             "original_bpnet, chrombpnet); default: infer from shapes")
    parser.add_argument("--member", default=None,
                        help="archives: which file, e.g. chrombpnet_nobias or bias_scaled")
    parser.add_argument("--fold", default=None, help="archives: which fold, e.g. 0")
    parser.add_argument("--input-length", type=int, default=None,
                        help="Keras files: input length (default from the file, else 2114)")
    parser.add_argument("--output-length", type=int, default=None,
                        help="Keras files: output length (default from the file, else 1000)")
    parser.add_argument("--trimming", type=int, default=None,
                        help="plain state dicts: positions cropped from each side of the "
                             "input (input - output) / 2, e.g. 557 for 2114 -> 1000; a state "
                             "dict does not record it (default: the smallest valid one)")
    parser.add_argument("--name", action="append", default=None,
                        help="sub-folder name per input (repeat; several inputs only)")


def run(args: argparse.Namespace) -> int:
    """Convert every input and print ``input -> folder`` lines."""
    from bpnetkit.models.files import convert

    kwargs = {k: v for k, v in {"preset": args.preset, "member": args.member,
                                "fold": args.fold, "input_length": args.input_length,
                                "output_length": args.output_length,
                                "trimming": args.trimming}.items() if v is not None}
    results = convert(args.inputs, args.output, names=args.name, **kwargs)
    for src, dest in results.items():
        print(f"{src} -> {dest}")
    return 0
