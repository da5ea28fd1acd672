"""``bpnetkit export``: a model (any format load_model reads) -> ONNX or TorchScript file."""

from __future__ import annotations

import argparse

HELP = "export a model to ONNX or TorchScript"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bpnetkit export``."""
    parser.add_argument("model", metavar="MODEL",
                        help="model folder or file (anything bpnetkit.load_model reads)")
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx",
                        help="output format (default: onnx)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output file (e.g. model.onnx or model.pt)")
    parser.add_argument("--input-length", type=int, default=None,
                        help="input length of the exported graph (default: the length that "
                             "gives 1000 output bases); the batch size stays free")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")


def run(args: argparse.Namespace) -> int:
    """Load the model, export it and print the output path."""
    from bpnetkit.models.export import export_model
    from bpnetkit.models.files import load_model

    model = load_model(args.model, device="cpu")
    out = export_model(model, args.output, format=args.format,
                       input_length=args.input_length, opset=args.opset)
    print(out)
    return 0
