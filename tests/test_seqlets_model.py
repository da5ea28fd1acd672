"""End to end on real DeepLIFT/SHAP attributions of a BPNet with hand-set PWM filters.

The model's count head responds only to CTCF and SPI1 matches, so its attributions light up on
planted instances: seqlets must fall on them, and Tomtom must name the planted motifs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("memelite")

from bpnetkit.interpret.deeplift import deep_lift_shap  # noqa: E402
from bpnetkit.models.wrappers import CountWrapper  # noqa: E402
from bpnetkit.motifs.database import load_builtin_motifs, select_motifs  # noqa: E402
from bpnetkit.motifs.seqlets import call_seqlets  # noqa: E402
from bpnetkit.steps.annotate import AnnotateParams, run_annotate  # noqa: E402
from bpnetkit.steps.seqlets import SeqletsParams, run_seqlets  # noqa: E402
from bpnetkit.testing.planted import (  # noqa: E402
    planted_attributions,
    pwm_bpnet,
    write_attribution_h5,
)


def test_deeplift_attributions_of_pwm_model(tmp_path):
    db = load_builtin_motifs()
    motifs = select_motifs(db, ["CTCF", "SPI1"])
    model = pwm_bpnet(motifs)
    # consensus-like instances (sampled from sharpened PWMs) so that every site fires
    ps = planted_attributions(motifs, n=40, length=400, per_sequence=(1, 2), random_state=4)
    X = ps.one_hot.copy()
    for e, a, b, mi, strand in ps.sites:
        m = motifs[mi] if strand > 0 else motifs[mi].reverse_complement()
        X[e, :, a:b] = m.one_hot()
    # and 40 motif-free sequences: the model's attributions are exactly sparse (mostly 0),
    # the shape that defeats a plain permutation null
    rng = np.random.default_rng(11)
    free = np.eye(4, dtype=X.dtype)[rng.integers(0, 4, (40, 400))].transpose(0, 2, 1)
    X = np.concatenate([X, free])
    hyp = deep_lift_shap(CountWrapper(model), torch.tensor(X, dtype=torch.float32),
                         n_shuffles=4, batch_size=64, device="cpu", random_state=0,
                         hypothetical=True)
    hyp = hyp.detach().numpy()
    s = call_seqlets(hyp, X, max_length=25, sign="positive")
    for e, a, b, _, _ in ps.sites:  # every planted site carries a seqlet
        assert ((s.example == e) & (s.core_start < b) & (s.core_end > a)).any()
    on = [((ps.sites[:, 0] == e) & (ps.sites[:, 1] < ce) & (ps.sites[:, 2] > cs)).any()
          for e, cs, ce in zip(s.example, s.core_start, s.core_end)]
    assert np.mean(on) > 0.9
    assert not (s.example >= 40).any()  # no seqlet on the motif-free sequences
    both = call_seqlets(hyp, X, max_length=25)  # the defaults (both signs)
    assert len(both) > 0 and not (both.example >= 40).any()

    h5 = tmp_path / "attr.h5"
    write_attribution_h5(h5, X, hyp)
    bed = run_seqlets(SeqletsParams(attributions=str(h5), output_dir=str(tmp_path),
                                    max_length=25, sign="positive")).seqlets
    out = run_annotate(AnnotateParams(output_dir=str(tmp_path), seqlets=bed,
                                      attributions=str(h5)))
    lines = open(out.motif_counts).read().splitlines()[1:]
    top2 = [line.split("\t")[0] for line in lines[:2]]
    # labels name the database motif, or the family holding it (which names the factor)
    for m in motifs:
        assert sum(m.name in label or f"{m.alt_name.upper()}" in label.upper()
                   for label in top2) == 1, (m.name, top2)
