"""Attribution h5 files: the streaming writer and the readers agree; partial files never appear."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from bpnetkit.errors import InputError
from bpnetkit.io.attributions import (
    AttributionWriter,
    read_attributions,
    read_position_scores,
    read_row_bed,
    read_rows,
)


def _data(n=5, length=12, seed=0):
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.int8)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    X[1, :, 3] = 0  # an N
    H = rng.normal(size=(n, 4, length)).astype(np.float32)
    chroms = np.array(["chr1", "chr1", "chr2", "chr2", "chr3"][:n], dtype=object)
    starts = np.arange(n, dtype=np.int64) * 100
    return X, H, chroms, starts


def test_writer_blocks_round_trip(tmp_path):
    X, H, chroms, starts = _data()
    path = tmp_path / "a.h5"
    with AttributionWriter(path, chroms, starts, starts + 12, 12,
                           attrs={"target": "counts"}) as w:
        assert not path.exists()  # appears only when complete
        for a in (3, 0):  # any block order
            proj = w.write(a, X[a:a + 3], H[a:a + 3])
            np.testing.assert_array_equal(proj, H[a:a + 3] * X[a:a + 3])
    with h5py.File(path) as f:
        assert f.attrs["target"] == "counts"
        np.testing.assert_array_equal(f["projected_shap/seq"][:], H * X)
    att = read_attributions(path)
    np.testing.assert_array_equal(att.one_hot, X)
    np.testing.assert_array_equal(att.hypothetical, H)
    assert list(att.chroms) == list(chroms) and att.starts.tolist() == starts.tolist()
    scores, c, s = read_position_scores(path, chunk=2)
    np.testing.assert_allclose(scores, (H * X).sum(axis=1), rtol=1e-6)
    sub, rows = read_rows(path, [4, 1, 4])
    assert rows.tolist() == [1, 4]
    np.testing.assert_array_equal(sub.hypothetical, H[[1, 4]])


def test_writer_error_leaves_no_file_and_checks_shapes(tmp_path):
    X, H, chroms, starts = _data()
    path = tmp_path / "b.h5"
    with pytest.raises(InputError, match="do not fit"):
        with AttributionWriter(path, chroms, starts, starts + 12, 12) as w:
            w.write(4, X[:2], H[:2])  # rows 4..5 of 5
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_read_row_bed_windows(tmp_path):
    bed = tmp_path / "r.narrowPeak"
    # exact window; narrowPeak summit; -1 summit is the midpoint
    bed.write_text("chr1\t100\t112\t.\t0\t.\t1\t1\t1\t-1\n"
                   "chr1\t200\t300\t.\t0\t.\t1\t1\t1\t30\n"
                   "chr2\t0\t50\t.\t0\t.\t1\t1\t1\t-1\n")
    chroms, starts = read_row_bed(bed, 3, 12)
    assert list(chroms) == ["chr1", "chr1", "chr2"]
    assert starts.tolist() == [100, 230 - 6, 25 - 6]
    with pytest.raises(InputError, match="3 regions"):
        read_row_bed(bed, 4, 12)
