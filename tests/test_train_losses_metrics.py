"""Losses and metrics against independent computations (torch.distributions, scipy)."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax
from scipy.stats import pearsonr, spearmanr

from bpnetkit.train import metrics
from bpnetkit.train.losses import (
    bpnet_loss,
    count_weight_from_counts,
    log1p_mse,
    multinomial_nll,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = rng.poisson(2.0, size=(6, 2, 30)).astype(np.float32)
    y[3] = 0  # an example without reads
    logits = rng.normal(size=(6, 2, 30)).astype(np.float32)
    log_counts = rng.normal(3, 1, size=(6, 1)).astype(np.float32)
    return y, logits, log_counts


def _torch_multinomial_nll(y, logits):
    out = []
    for yi, li in zip(y, logits):
        total = int(yi.sum())
        d = torch.distributions.Multinomial(total_count=total, logits=torch.tensor(li))
        out.append(-d.log_prob(torch.tensor(yi)).item())
    return np.array(out)


def test_multinomial_nll_joint_matches_torch_distributions(data):
    y, logits, _ = data
    ours = multinomial_nll(torch.tensor(logits), torch.tensor(y), reduction="none").numpy()
    ref = _torch_multinomial_nll(y.reshape(6, -1), logits.reshape(6, -1))
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)
    mean = multinomial_nll(torch.tensor(logits), torch.tensor(y)).item()
    assert mean == pytest.approx(ref.mean(), rel=1e-4)
    np.testing.assert_allclose(metrics.profile_mnll(y, logits), ref, rtol=1e-5, atol=1e-4)


def test_multinomial_nll_per_strand_is_sum_of_strands(data):
    y, logits, _ = data
    ours = multinomial_nll(torch.tensor(logits), torch.tensor(y), joint_strands=False,
                           reduction="none").numpy()
    ref = (_torch_multinomial_nll(y[:, 0], logits[:, 0])
           + _torch_multinomial_nll(y[:, 1], logits[:, 1]))
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(metrics.profile_mnll(y, logits, joint_strands=False), ref,
                               rtol=1e-5, atol=1e-4)


def test_log1p_mse_and_total_loss(data):
    y, logits, lc = data
    ref = np.mean((lc[:, 0] - np.log1p(y.sum(axis=(1, 2)))) ** 2)
    assert log1p_mse(torch.tensor(lc), torch.tensor(y)).item() == pytest.approx(ref, rel=1e-5)
    total, prof, cnt = bpnet_loss(torch.tensor(logits), torch.tensor(lc), torch.tensor(y),
                                  count_weight=7.0)
    assert total.item() == pytest.approx(prof.item() + 7.0 * cnt.item(), rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        multinomial_nll(torch.zeros(2, 2, 5), torch.zeros(2, 2, 6))


def test_count_weight_rules():
    assert count_weight_from_counts([5, 10, 20]) == 1.0  # median/10 = 1 floor
    assert count_weight_from_counts([100, 300, 900]) == pytest.approx(30.0)
    assert count_weight_from_counts([1, 2, 6], rule="mean") == pytest.approx(3.0)
    with pytest.raises(ValueError):
        count_weight_from_counts([])


def test_profile_metrics_against_scipy(data):
    y, logits, _ = data
    probs = metrics.softmax_probs(logits)
    np.testing.assert_allclose(probs.reshape(6, -1), softmax(logits.reshape(6, -1), axis=1),
                               rtol=1e-6)
    jsd = metrics.jensen_shannon_distance(y, probs)
    for i in range(6):
        if y[i].sum() == 0:
            assert np.isnan(jsd[i])
            continue
        q = y[i].ravel() / y[i].sum()
        assert jsd[i] == pytest.approx(jensenshannon(q, probs[i].ravel()), rel=1e-6)
        u = np.full(q.size, 1 / q.size)
        norm = np.clip(1 - jensenshannon(q, probs[i].ravel()) / jensenshannon(q, u), 0, 1)
        assert metrics.normalized_jsd(y[i:i + 1], probs[i:i + 1])[0] == pytest.approx(norm)
        assert metrics.rowwise_pearson(y[i].ravel()[None], probs[i].ravel()[None])[0] == \
            pytest.approx(pearsonr(y[i].ravel(), probs[i].ravel())[0])
        assert metrics.rowwise_spearman(y[i].ravel()[None], probs[i].ravel()[None])[0] == \
            pytest.approx(spearmanr(y[i].ravel(), probs[i].ravel())[0])
    # per-strand JSD is the mean over strands of per-strand distances
    ps = metrics.softmax_probs(logits, joint_strands=False)
    js = metrics.jensen_shannon_distance(y, ps, joint_strands=False)
    ref = np.mean([jensenshannon(y[0, s] / y[0, s].sum(), ps[0, s]) for s in range(2)])
    assert js[0] == pytest.approx(ref)
    # perfect prediction: distance 0, normalised 1
    perfect = np.log(y[:1] + 1e-12)
    assert metrics.jensen_shannon_distance(y[:1], metrics.softmax_probs(perfect))[0] < 1e-5
    assert metrics.normalized_jsd(y[:1], metrics.softmax_probs(perfect))[0] == \
        pytest.approx(1.0, abs=1e-4)


def test_count_metrics_and_split(data):
    y, logits, lc = data
    m = metrics.compute_metrics(y, logits, lc)
    t = np.log1p(y.sum(axis=(1, 2)))
    assert m["counts_pearson"] == pytest.approx(pearsonr(t, lc[:, 0])[0], rel=1e-5)
    assert m["counts_spearman"] == pytest.approx(spearmanr(t, lc[:, 0])[0], rel=1e-5)
    assert m["counts_mse"] == pytest.approx(np.mean((t - lc[:, 0]) ** 2), rel=1e-5)
    assert m["n"] == 6 and m["n_profile"] == 5
    assert np.isfinite(m["profile_jsd"]) and np.isfinite(m["profile_mnll"])
    is_peak = np.array([1, 1, 1, 0, 0, 0], bool)
    s = metrics.split_metrics(y, logits, lc, is_peak)
    assert set(s) == {"peaks", "negatives", "all"}
    assert s["peaks"]["n"] == 3 and s["negatives"]["n"] == 3
    assert s["peaks"]["counts_pearson"] == pytest.approx(
        pearsonr(t[:3], lc[:3, 0])[0], rel=1e-5)
