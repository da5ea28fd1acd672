"""Module nonlinearities and the io/models <-> models split."""

from __future__ import annotations

import ast
from pathlib import Path

import torch

from bpnetkit.models import BPNet, ChromBPNet, ProfileWrapper
from bpnetkit.models.layers import Exp, Log, SoftmaxWeighting, softmax_weighted

SRC = Path(__file__).resolve().parents[1] / "src" / "bpnetkit"


def _chrom() -> ChromBPNet:
    torch.manual_seed(0)
    one = {"n_filters": 4, "n_layers": 1, "n_outputs": 1, "n_control_tracks": 0,
           "stem_kernel_size": 5, "profile_kernel_size": 7}
    return ChromBPNet(bias=BPNet(**one), accessibility=BPNet(**one)).eval()


def test_chrombpnet_combination_is_logsumexp_and_safe_in_low_precision():
    model = _chrom()
    X = torch.eye(4)[torch.randint(0, 4, (3, 60))].transpose(1, 2)
    with torch.no_grad():
        acc, bias = model.accessibility(X)[1], model.bias(X)[1]
        want = torch.logsumexp(torch.stack([acc, bias], dim=-1), dim=-1)
        torch.testing.assert_close(model(X)[1], want, atol=1e-6, rtol=0)
        model.accessibility.linear.bias.fill_(14.0)  # exp(14) overflows float16
        half = model.to(torch.bfloat16)(X.to(torch.bfloat16))[1]
    assert torch.isfinite(half).all() and half.dtype == torch.bfloat16
    assert float((half.float() - 14).abs().max()) < 0.2


def test_layers_compute_their_functions():
    x = torch.randn(2, 5)
    torch.testing.assert_close(Exp()(x), x.exp())
    torch.testing.assert_close(Log()(x.exp()), x)
    torch.testing.assert_close(SoftmaxWeighting()(x), x * torch.softmax(x, -1))
    torch.testing.assert_close(softmax_weighted(x), x * torch.softmax(x, -1))
    # ProfileWrapper's score is unchanged by the module form
    torch.manual_seed(1)
    m = BPNet(n_filters=4, n_layers=1, n_control_tracks=0, stem_kernel_size=5,
              profile_kernel_size=7).eval()
    X = torch.eye(4)[torch.randint(0, 4, (2, 50))].transpose(1, 2)
    with torch.no_grad():
        logits = m(X)[0].reshape(2, -1)
        c = logits - logits.mean(-1, keepdim=True)
        torch.testing.assert_close(ProfileWrapper(m)(X), (c * c.softmax(-1)).sum(-1, True))


def test_io_models_never_import_the_models_layer():
    """io/models returns raw configs and tensors; building modules is models/files.py's job."""
    for path in sorted((SRC / "io" / "models").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith("bpnetkit.models"), f"{path.name} imports {name}"
