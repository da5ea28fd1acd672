"""Training and evaluation: losses, metrics, the trainer and the BPNet/ChromBPNet/ProCapNet
recipes.

Submodules are imported on demand (``bpnetkit.train.losses``, ``.metrics``, ``.trainer``,
``.recipes``, ``.evaluate``) so that importing this package stays light.
"""
