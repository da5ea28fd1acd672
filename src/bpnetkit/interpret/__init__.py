"""Interpretation: prediction (the one batch loop over a model), attribution (DeepLIFT/SHAP,
ISM) and dinucleotide shuffles.

Submodules are imported on demand (``from bpnetkit.interpret.deeplift import deep_lift_shap``)
so that importing this package stays cheap.
"""
