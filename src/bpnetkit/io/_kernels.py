"""Numba kernels for the file-format hot loops: FASTA gathering (io.fasta), BAM records and
BED/fragment lines (io.reads), bigWig data blocks (io.bigwig). Compiled on first use, cached on
disk; kept apart so that importing the format modules does not import numba."""

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
    """Like :func:`gather_fasta_codes` but writes int8 one-hot ``out[i, :, j]`` directly.

    Two passes per locus: the bases' codes into a small buffer (a table look-up per base),
    then one comparison loop per channel over contiguous memory, which the compiler turns
    into vector instructions (about half the time of setting four channels per base).
    """
    n = starts.shape[0]
    codes = np.empty(length, dtype=np.uint8)
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
                codes[j + k] = table[mm[byte + k]]
            j += seg
            byte += seg + (lw - lb)
            col = 0
        for c in range(4):
            row = out[i, c]
            for j in range(length):
                row[j] = codes[j] == c


# --- BAM records (io.reads) ----------------------------------------
@numba.njit(cache=True, nogil=True)
def parse_records(buf, start, min_mapq, skip_mask, require_mask, shift_plus, shift_minus,
                  tid_out, pos_out, rev_out, stats):
    """Parse complete records from ``buf[start:]``; return (n_records_kept, next_offset).

    stats[0] += records seen, stats[1] += paired records seen, stats[2] += kept,
    stats[3] += filtered by flags/MAPQ.
    """
    n = buf.shape[0]
    p = start
    k = 0
    cap = tid_out.shape[0]
    while p + 4 <= n and k < cap:
        bs = buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (np.int64(buf[p + 3]) << 24)
        if p + 4 + bs > n:
            break
        q = p + 4
        tid = np.int32(buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16)
                       | (np.int64(buf[q + 3]) << 24))
        pos = np.int64(np.int32(buf[q + 4] | (buf[q + 5] << 8) | (buf[q + 6] << 16)
                                | (np.int64(buf[q + 7]) << 24)))
        l_name = buf[q + 8]
        mapq = buf[q + 9]
        n_cig = buf[q + 12] | (buf[q + 13] << 8)
        flag = buf[q + 14] | (buf[q + 15] << 8)
        stats[0] += 1
        if flag & 1:
            stats[1] += 1
        p = p + 4 + bs
        if (flag & skip_mask) or (flag & require_mask) != require_mask or mapq < min_mapq \
                or tid < 0:
            stats[3] += 1
            continue
        if flag & 0x10:
            c = q + 32 + l_name
            span = np.int64(0)
            for _ in range(n_cig):
                v = np.int64(buf[c] | (buf[c + 1] << 8) | (buf[c + 2] << 16)
                             | (np.int64(buf[c + 3]) << 24))
                op = v & 0xF
                # M, D, N, =, X consume the reference
                if op == 0 or op == 2 or op == 3 or op == 7 or op == 8:
                    span += v >> 4
                c += 4
            if span == 0:
                span = 1
            pos_out[k] = pos + span - 1 + shift_minus
            rev_out[k] = 1
        else:
            pos_out[k] = pos + shift_plus
            rev_out[k] = 0
        tid_out[k] = tid
        k += 1
        stats[2] += 1
    return k, p


# --- bigWig data blocks (io.bigwig) ----------------------------------------
@numba.njit(cache=True, nogil=True)
def decode_block(buf, u32, f32, cid, lo, hi, span, cov):
    """Decode the sections of one inflated data block into ``span``/``cov`` over [lo, hi).

    ``buf``, ``u32`` and ``f32`` are views of the same bytes (sections and items are 4-byte
    aligned).
    """
    n = buf.shape[0]
    p = 0
    while p + 24 <= n:
        chrom = np.int64(u32[p >> 2])
        c_start = np.int64(u32[(p + 4) >> 2])
        step = np.int64(u32[(p + 12) >> 2])
        ispan = np.int64(u32[(p + 16) >> 2])
        typ = buf[p + 20]
        count = np.int64(buf[p + 22]) | (np.int64(buf[p + 23]) << 8)
        p += 24
        size = 12 if typ == 1 else (8 if typ == 2 else 4)
        if chrom != cid:
            p += count * size
            continue
        for k in range(count):
            if typ == 1:
                s = np.int64(u32[p >> 2])
                e = np.int64(u32[(p + 4) >> 2])
                vp = p + 8
            elif typ == 2:
                s = np.int64(u32[p >> 2])
                e = s + ispan
                vp = p + 4
            else:
                s = c_start + k * step
                e = s + ispan
                vp = p
            p += size
            if e <= lo or s >= hi:
                continue
            v = f32[vp >> 2]
            a = max(s, lo) - lo
            z = min(e, hi) - lo
            if v != v:  # NaN
                continue
            for j in range(a, z):
                span[j] = v
                cov[j] = 1


@numba.njit(cache=True, nogil=True)
def copy_loci(span, cov, offs, idx, t, length, out):
    """Copy windows of ``span`` at ``offs`` into ``out[idx, t]``; return loci without data."""
    empty = 0
    for k in range(offs.shape[0]):
        o = offs[k]
        i = idx[k]
        out[i, t, :] = span[o:o + length]
        nonzero = False
        for j in range(length):
            if span[o + j] != 0:
                nonzero = True
                break
        if not nonzero:
            any_data = False
            for j in range(length):
                if cov[o + j]:
                    any_data = True
                    break
            if not any_data:
                empty += 1
    return empty


@numba.njit(cache=True, nogil=True)
def fill_loci(buf, u32, f32, offs, slot, lo_b, first, last, starts, length, cid, out, rows,
              track):
    """Decode the items of each locus's blocks straight into ``out[rows[i], track]``."""
    empty = 0
    for i in range(starts.shape[0]):
        s = starts[i]
        e = s + length
        row = rows[i]
        covered = False
        for blk in range(first[i], last[i]):
            k = slot[blk - lo_b]
            p = offs[k]
            end_blk = offs[k + 1]
            while p + 24 <= end_blk:
                chrom = np.int64(u32[p >> 2])
                c_start = np.int64(u32[(p + 4) >> 2])
                step = np.int64(u32[(p + 12) >> 2])
                ispan = np.int64(u32[(p + 16) >> 2])
                typ = buf[p + 20]
                count = np.int64(buf[p + 22]) | (np.int64(buf[p + 23]) << 8)
                p += 24
                size = 12 if typ == 1 else (8 if typ == 2 else 4)
                sec_end = p + count * size
                if chrom != cid:
                    p = sec_end
                    continue
                # first item that may overlap [s, e): binary search on item ends
                lo_i = 0
                hi_i = count
                if typ == 3:
                    if step > 0:
                        lo_i = max(0, (s - c_start - ispan) // step)
                else:
                    while lo_i < hi_i:
                        mid = (lo_i + hi_i) >> 1
                        q = p + mid * size
                        if typ == 1:
                            item_end = np.int64(u32[(q + 4) >> 2])
                        else:
                            item_end = np.int64(u32[q >> 2]) + ispan
                        if item_end <= s:
                            lo_i = mid + 1
                        else:
                            hi_i = mid
                for kk in range(lo_i, count):
                    q = p + kk * size
                    if typ == 1:
                        a = np.int64(u32[q >> 2])
                        z = np.int64(u32[(q + 4) >> 2])
                        v = f32[(q + 8) >> 2]
                    elif typ == 2:
                        a = np.int64(u32[q >> 2])
                        z = a + ispan
                        v = f32[(q + 4) >> 2]
                    else:
                        a = c_start + kk * step
                        z = a + ispan
                        v = f32[q >> 2]
                    if a >= e:
                        break
                    if z <= s or v != v:
                        continue
                    covered = True
                    for j in range(max(a, s) - s, min(z, e) - s):
                        out[row, track, j] = v
                p = sec_end
        if not covered:
            empty += 1
    return empty
