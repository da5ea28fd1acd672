"""``bpnetkit motifs``: export, list or check motif databases (MEME files).

Examples::

    bpnetkit motifs --export jaspar.meme       # the built-in JASPAR database as MEME text
    bpnetkit motifs --list                     # identifiers, names, lengths, consensus
    bpnetkit motifs --db my.meme --list        # read (and so validate) another MEME file
    bpnetkit motifs --show CTCF                # one motif's probability matrix
"""

from __future__ import annotations

import argparse

HELP = "export or inspect the built-in motif database"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--db", default=None, metavar="MEME",
                        help="MEME file to use instead of the built-in JASPAR CORE "
                             "vertebrates non-redundant database")
    parser.add_argument("--export", default=None, metavar="FILE",
                        help="write the database as a MEME file (gzipped if FILE ends in .gz)")
    parser.add_argument("--list", action="store_true",
                        help="print identifier, name, length and consensus of every motif")
    parser.add_argument("--show", nargs="+", default=None, metavar="NAME",
                        help="print the probability matrix of these motifs (id or name)")


def run(args: argparse.Namespace) -> int:
    """Export, list or show motifs; without options print a summary."""
    import gzip
    import shutil

    from bpnetkit.io.meme import write_meme
    from bpnetkit.motifs.database import builtin_motif_db_path, load_motif_db, select_motifs

    motifs = load_motif_db(args.db)
    source = args.db or str(builtin_motif_db_path())
    if args.export:
        if args.db is None:
            from bpnetkit.utils import atomic_path

            src = builtin_motif_db_path()
            with atomic_path(args.export) as tmp:
                if args.export.endswith(".gz"):
                    shutil.copyfile(src, tmp)
                else:
                    with gzip.open(src, "rb") as fi, open(tmp, "wb") as fo:
                        shutil.copyfileobj(fi, fo)
        else:
            write_meme(motifs, args.export, comments=[f"exported from {args.db}"])
        print(f"wrote {len(motifs)} motifs to {args.export}")
    if args.list:
        for m in motifs:
            print(f"{m.name}\t{m.alt_name}\t{m.length}\t{m.consensus()}")
    if args.show:
        for m in select_motifs(motifs, args.show):
            print(f"MOTIF {m.label}  (length {m.length}, consensus {m.consensus()})")
            print("pos\tA\tC\tG\tT")
            for i, row in enumerate(m.pwm):
                print(f"{i + 1}\t" + "\t".join(f"{v:.3f}" for v in row))
    if not (args.export or args.list or args.show):
        header = ""
        if args.db is None:
            with gzip.open(builtin_motif_db_path(), "rt") as fh:
                header = "".join(line[2:] for line in fh.readlines()[:8]
                                 if line.startswith("# "))
        print(f"{len(motifs)} motifs in {source}")
        if header:
            print(header, end="")
    return 0
