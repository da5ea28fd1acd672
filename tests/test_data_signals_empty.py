"""A bigWig that holds no data at all reads as zeros (and says so), not a numpy error."""

from __future__ import annotations

import numpy as np
import pytest

pyBigWig = pytest.importorskip("pyBigWig")


@pytest.mark.parametrize("engine", ["auto", "pybigwig"])
def test_empty_bigwig_reads_as_zeros(tmp_path, engine, caplog):
    from bpnetkit.data.signals import extract_signals

    path = tmp_path / "empty.bw"
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([("chr1", 10_000)])
    bw.close()
    out = extract_signals([path], np.array(["chr1", "chr1"]), np.array([0, 500]),
                          np.array([100, 600]), engine=engine)
    assert out.shape == (2, 1, 100) and out.dtype == np.float32
    assert not out.any()
