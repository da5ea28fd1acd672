"""The "using bpnetkit models with tangermeme, captum, bpnet-lite" example of docs/models.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def _example() -> str:
    text = DOC.read_text()
    m = re.search(r"<!-- doc-example: interop[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, "docs/models.md lost its interop example"
    return m.group(1)


@pytest.mark.filterwarnings("ignore")
def test_interop_example_runs_and_its_numbers_hold(monkeypatch, capsys):
    pytest.importorskip("tangermeme")
    pytest.importorskip("bpnetlite")
    deep_lift = pytest.importorskip("captum.attr._core.deep_lift")
    # the example registers modules in captum's global table: undo that afterwards
    monkeypatch.setattr(deep_lift, "SUPPORTED_NON_LINEAR",
                        dict(deep_lift.SUPPORTED_NON_LINEAR))
    ns: dict = {}
    exec(compile(_example(), str(DOC), "exec"), ns)  # noqa: S102  (our own documentation)
    out = capsys.readouterr().out
    assert "(irelu): ReLU()" in out and "(rrelus): ModuleList" in out
    ours, tm, cap = ns["ours"], ns["tm"], ns["cap"]
    assert float(ours.abs().max()) > 1e-3
    torch.testing.assert_close(ours.sum(dim=(1, 2)), ns["expected"].mean(dim=1), atol=1e-9,
                               rtol=1e-9)
    torch.testing.assert_close(tm, ours, atol=1e-9, rtol=0)
    torch.testing.assert_close(cap, ours, atol=1e-9, rtol=0)
    lite, twin, Xf = ns["lite"], ns["twin"], ns["Xf"]
    with torch.no_grad():
        torch.testing.assert_close(lite(Xf)[0], twin(Xf)[0], atol=0, rtol=0)
