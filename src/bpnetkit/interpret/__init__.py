"""Interpretation: prediction, attribution (DeepLIFT/SHAP, ISM), shuffles, seqlets and motifs.

Submodules are imported on demand (``from bpnetkit.interpret.deeplift import deep_lift_shap``)
so that importing this package stays cheap.
"""
