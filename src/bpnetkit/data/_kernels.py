"""Numba kernels for the data hot loops (compiled on first use, cached on disk)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def gather_fasta_codes(mm, offsets, line_bases, line_bytes, starts, length, table, out):
    """Copy bases of loci from a memory-mapped FASTA into ``out`` as codes.

    ``offsets``/``line_bases``/``line_bytes`` are the ``.fai`` fields per locus; the byte of
    position ``p`` is ``offset + (p // line_bases) * line_bytes + p % line_bases``.
    """
    n = starts.shape[0]
    for i in range(n):
        off = offsets[i]
        lb = line_bases[i]
        lw = line_bytes[i]
        p = starts[i]
        line = p // lb
        col = p - line * lb
        byte = off + line * lw + col
        for j in range(length):
            out[i, j] = table[mm[byte]]
            col += 1
            if col == lb:
                col = 0
                byte += lw - lb + 1
            else:
                byte += 1



@numba.njit(cache=True, nogil=True)
def parse_bed_lines(buf, strand_col, starts, ends, strands, run_line, run_lo, run_hi):
    """Parse tab-separated lines (chrom, start, end, ..., [strand at column strand_col]).

    Returns ``(n_lines, n_runs, consumed_bytes, bad_line)``: the parsed lines, the number of
    chromosome runs (``run_line[r]`` first line of run ``r`` whose chromosome name is
    ``buf[run_lo[r]:run_hi[r]]``), bytes consumed (complete lines only) and the index of the
    first malformed line (-1 if none; parsing stops there). Header/comment lines count as
    lines with start = end = -1.
    """
    n = buf.shape[0]
    cap = starts.shape[0]
    p = 0
    k = 0
    r = 0
    prev_lo = -1
    prev_hi = -1
    while p < n and k < cap:
        # find line end
        e = p
        while e < n and buf[e] != 10:
            e += 1
        if e >= n:
            break
        line_end = e
        if line_end > p and buf[line_end - 1] == 13:
            line_end -= 1
        c0 = buf[p] if line_end > p else 35
        if c0 == 35 or line_end == p or (line_end - p >= 5 and buf[p] == 116 and buf[p + 1] == 114
                                          and buf[p + 2] == 97 and buf[p + 3] == 99
                                          and buf[p + 4] == 107) or \
                (line_end - p >= 7 and buf[p] == 98 and buf[p + 1] == 114 and buf[p + 2] == 111):
            starts[k] = -1
            ends[k] = -1
            strands[k] = 0
            k += 1
            p = e + 1
            continue
        # columns
        col = 0
        q = p
        name_lo = p
        name_hi = -1
        s_val = np.int64(-1)
        e_val = np.int64(-1)
        st = np.uint8(0)
        ok = True
        while q <= line_end:
            f_lo = q
            while q < line_end and buf[q] != 9:
                q += 1
            f_hi = q
            if col == 0:
                name_hi = f_hi
            elif col == 1 or col == 2:
                if f_hi == f_lo:
                    ok = False
                v = np.int64(0)
                for t in range(f_lo, f_hi):
                    d = buf[t]
                    if d < 48 or d > 57:
                        ok = False
                        break
                    v = v * 10 + (d - 48)
                if col == 1:
                    s_val = v
                else:
                    e_val = v
            elif col == strand_col:
                if f_hi - f_lo == 1 and buf[f_lo] == 45:
                    st = 2
                elif f_hi - f_lo == 1 and buf[f_lo] == 43:
                    st = 1
                else:
                    st = 3
            col += 1
            q += 1
            if col > 2 and col > strand_col:
                break
        if not ok or col < 3 or name_hi <= name_lo or (strand_col > 0 and col <= strand_col):
            return k, r, p, k
        if prev_lo < 0 or name_hi - name_lo != prev_hi - prev_lo or \
                not _same(buf, name_lo, prev_lo, name_hi - name_lo):
            run_line[r] = k
            run_lo[r] = name_lo
            run_hi[r] = name_hi
            r += 1
            prev_lo = name_lo
            prev_hi = name_hi
        starts[k] = s_val
        ends[k] = e_val
        strands[k] = st
        k += 1
        p = e + 1
    return k, r, p, -1


@numba.njit(cache=True, inline="always")
def _same(buf, a, b, n):
    for i in range(n):
        if buf[a + i] != buf[b + i]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def gather_fasta_one_hot(mm, offsets, line_bases, line_bytes, starts, length, table, out):
    """Like :func:`gather_fasta_codes` but writes int8 one-hot ``out[i, :, j]`` directly."""
    n = starts.shape[0]
    for i in range(n):
        lb = line_bases[i]
        lw = line_bytes[i]
        p = starts[i]
        line = p // lb
        col = p - line * lb
        byte = offsets[i] + line * lw + col
        j = 0
        while j < length:
            seg = min(lb - col, length - j)
            for k in range(seg):
                c = table[mm[byte + k]]
                out[i, 0, j + k] = c == 0
                out[i, 1, j + k] = c == 1
                out[i, 2, j + k] = c == 2
                out[i, 3, j + k] = c == 3
            j += seg
            byte += seg + (lw - lb)
            col = 0
