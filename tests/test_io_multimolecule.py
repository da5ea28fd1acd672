"""multimolecule's BPNet checkpoint layout loads as our original (OSKN) BPNet, equal outputs.

multimolecule 0.2.2 is the oracle: its own classes write random weights with
``save_pretrained``; we load the folder and compare with its ``BpNetForProfilePrediction``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bpnetkit.models import MultiTaskBPNet, predicted_track
from bpnetkit.models.files import convert, detect_format, load_model

mm = pytest.importorskip("multimolecule")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = mm.BpNetConfig(hidden_size=8, num_dilated_layers=3, stem_kernel_size=5,
                            profile_kernel_size=7, num_tasks=4)
    config.id2label = dict(enumerate(["Oct4", "Sox2", "Nanog", "Klf4"]))
    theirs = mm.BpNetForProfilePrediction(config).eval()
    with torch.no_grad():  # biases are zero-initialised; make them count in the comparison
        for name, p in theirs.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    folder = tmp_path_factory.mktemp("mm") / "bpnet-oskn"
    theirs.save_pretrained(folder)
    return folder, theirs


def test_multimolecule_bpnet_equals_its_own_classes(checkpoint, tmp_path):
    folder, theirs = checkpoint
    assert detect_format(folder) == "multimolecule"
    ours = load_model(folder, device="cpu")
    assert isinstance(ours, MultiTaskBPNet)
    assert ours.tasks == ["Oct4", "Sox2", "Nanog", "Klf4"]
    rng = np.random.default_rng(2)
    L = 120
    idx = rng.integers(0, 4, (3, L))
    X = torch.from_numpy(np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy())
    embeds = torch.from_numpy(np.eye(5, dtype=np.float32)[idx])  # ACGTN one-hot, no N
    with torch.no_grad():
        out = theirs(inputs_embeds=embeds)
        track = theirs.postprocess(out)
        profile, counts = ours(X)
    np.testing.assert_allclose(profile.numpy(), out["profile_logits"].transpose(1, 2).numpy(),
                               atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(counts.numpy(), out["count_logits"].numpy(), atol=1e-5,
                               rtol=1e-5)
    ours_track = predicted_track(profile, counts, joint_strands=ours.joint_strands)
    np.testing.assert_allclose(ours_track.numpy(), track.transpose(1, 2).numpy(), atol=1e-5,
                               rtol=1e-4)
    # token ids (A=0 ... T=3) through multimolecule's own embedding give the same
    with torch.no_grad():
        by_ids = theirs(input_ids=torch.from_numpy(idx))
    np.testing.assert_allclose(by_ids["count_logits"].numpy(), counts.numpy(), atol=1e-5,
                               rtol=1e-5)
    # converting to a native folder keeps everything
    convert(folder, tmp_path / "native")
    again = load_model(tmp_path / "native", device="cpu")
    with torch.no_grad():
        torch.testing.assert_close(again(X)[0], profile)
    assert again.model_info["provenance"]["source_format"] == "multimolecule"
