"""Motif analysis on arrays: seqlets, Tomtom matching, TF-MoDISco, annotation, marginalization.

Modules (all take and return arrays and dataclasses, never paths):

- :mod:`~bpnetkit.motifs.seqlets`: recursive seqlet calling on attribution tracks;
- :mod:`~bpnetkit.motifs.tomtom`: Tomtom (memelite) matches with per-query q-values;
- :mod:`~bpnetkit.motifs.modisco`: TF-MoDISco with modisco-lite;
- :mod:`~bpnetkit.motifs.annotate`: naming seqlets and patterns with a motif database;
- :mod:`~bpnetkit.motifs.marginalize`: in-silico marginalization of motifs with a model;
- :mod:`~bpnetkit.motifs.database`: the built-in JASPAR database and motif selection.

The matching pipeline steps (reading and writing files) are in :mod:`bpnetkit.steps`.
"""
