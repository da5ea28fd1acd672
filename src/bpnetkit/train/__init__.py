"""Training: losses, metrics, the trainer, the BPNet/ChromBPNet/ProCapNet recipes and their
data preparation, the ChromBPNet stages and QC, and evaluation on arrays.

Submodules are imported on demand (``bpnetkit.train.losses``, ``.metrics``, ``.trainer``,
``.recipes``, ``.prepare``, ``.chrombpnet``, ``.qc``, ``.evaluate``) so that importing this
package stays light. The ``fit`` and ``evaluate`` commands, which read and write files and
call the prediction loop, are :mod:`bpnetkit.steps.fit` and :mod:`bpnetkit.steps.evaluate`.
"""
