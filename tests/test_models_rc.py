"""Reverse-complement track maps declared by every model family, and their use by predict."""

import numpy as np
import pytest
import torch

import bpnetkit
from bpnetkit.errors import InputError
from bpnetkit.models import (
    BPNet,
    ChromBPNet,
    ControlWrapper,
    CountWrapper,
    TaskWrapper,
    original_bpnet,
    procapnet,
)
from bpnetkit.models.base import RCPermutation, rc_permutation


def small_bpnet(**kw) -> BPNet:
    return BPNet(n_filters=4, n_layers=2, stem_kernel_size=5, profile_kernel_size=7, **kw)


def test_bpnet_declarations():
    assert small_bpnet().rc_permutation() == RCPermutation((1, 0), (0,), (1, 0))
    assert small_bpnet(n_outputs=1, n_control_tracks=1).rc_permutation() == \
        RCPermutation((0,), (0,), (0,))
    # per-strand counts swap with the profile strands
    assert small_bpnet(n_count_outputs=2, n_control_tracks=0).rc_permutation() == \
        RCPermutation((1, 0), (1, 0), ())
    # 2 tasks x 2 strands in one BPNet (basepairmodels files) need stranded=True
    m = small_bpnet(n_outputs=4, n_count_outputs=4, n_control_tracks=0, stranded=True)
    assert m.rc_permutation() == RCPermutation((1, 0, 3, 2), (1, 0, 3, 2), ())
    assert BPNet.from_config(m.config()).stranded is True
    assert "stranded" not in small_bpnet().config()  # old configs stay as they were
    assert small_bpnet(n_outputs=2, stranded=False).rc_permutation().profile == (0, 1)
    with pytest.raises(InputError, match="odd"):
        small_bpnet(n_outputs=3, stranded=True)
    assert procapnet(n_filters=4, n_layers=1).rc_permutation() == RCPermutation((1, 0), (0,))


def test_chrombpnet_multitask_and_wrappers():
    c = ChromBPNet(bias=small_bpnet(n_outputs=1, n_control_tracks=0),
                   accessibility=small_bpnet(n_outputs=1, n_control_tracks=0))
    assert c.rc_permutation() == RCPermutation((0,), (0,), ())
    m = original_bpnet(["a", "b", "c"], n_filters=4, n_layers=2, n_control_tracks=2)
    assert m.rc_permutation() == RCPermutation((1, 0, 3, 2, 5, 4), (1, 0, 3, 2, 5, 4),
                                               (1, 0, 3, 2, 5, 4))
    m1 = original_bpnet(["a", "b"], n_filters=4, n_layers=2, counts_per_strand=False)
    assert m1.rc_permutation().counts == (0, 1)
    unstranded = original_bpnet(["a", "b"], n_filters=4, n_layers=2, n_strands=1)
    assert unstranded.rc_permutation().profile == (0, 1)
    # wrappers delegate; TaskWrapper restricts to the kept tracks
    assert rc_permutation(CountWrapper(ControlWrapper(m))) == m.rc_permutation()
    b = TaskWrapper(m, m.task_channels("b"), m.task_channels("b"))
    assert b.rc_permutation() == RCPermutation((1, 0), (1, 0), (1, 0, 3, 2, 5, 4))
    with pytest.raises(InputError, match="partner"):
        TaskWrapper(m, [2]).rc_permutation()
    assert rc_permutation(TaskWrapper(torch.nn.Identity(), [0])) is None


def test_predict_rc_average_two_tasks_equals_hand_average():
    torch.manual_seed(0)
    model = original_bpnet(["Oct4", "Sox2"], n_filters=8, n_layers=2,
                           n_control_tracks=2).eval()
    rng = np.random.default_rng(1)
    X = torch.from_numpy(np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 64))]
                         .transpose(0, 2, 1).copy())
    ctl = torch.from_numpy(rng.poisson(1.0, (3, 4, 64)).astype(np.float32))
    swap = [1, 0, 3, 2]  # each task's (plus, minus) pair; tasks never mix
    with torch.no_grad():
        p, c = model(X, ctl)
        p_rc, c_rc = model(X.flip(dims=(1, 2)), ctl.flip(dims=(2,))[:, swap])
    want_p = (p + p_rc.flip(dims=(2,))[:, swap]) / 2
    want_c = (c + c_rc[:, swap]) / 2
    got_p, got_c = bpnetkit.predict(model, X, args=[ctl], rc_average=True, device="cpu",
                                    channels_last=False)
    torch.testing.assert_close(got_p, want_p, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_c, want_c, atol=1e-5, rtol=1e-5)
    # the average differs from the forward pass alone (the test is not vacuous)
    assert float((got_p - p).abs().max()) > 1e-3
