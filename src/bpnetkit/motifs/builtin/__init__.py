"""Built-in motif database (package data).

``jaspar_core_vertebrates_nr.meme.gz`` holds the JASPAR CORE vertebrates non-redundant
collection of release JASPAR2026 (1019 matrices: the latest version of every CORE
vertebrate matrix) in MEME format, generated once with ``python -m bpnetkit.motifs.builtin.build``
from the SQLite database shipped by pyjaspar 4.0.0. The file header repeats the release.
JASPAR data are free to use under the CC BY 4.0 licence; cite the JASPAR paper of the
release (https://jaspar.elixir.no).

Use :func:`bpnetkit.motifs.database.load_builtin_motifs` to read it, or
``bpnetkit motifs --export FILE`` to copy it out.
"""

BUILTIN_FILE = "jaspar_core_vertebrates_nr.meme.gz"
