"""What a model-file reader returns: class name, architecture, tensors and provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MODEL_CLASSES = ("BPNet", "ChromBPNet", "MultiTaskBPNet")


@dataclass
class RawModel:
    """A model as stored: enough to build the module, without building it.

    Attributes
    ----------
    cls : str
        Model class name, one of :data:`MODEL_CLASSES`.
    architecture : dict
        Constructor arguments of that class (for ChromBPNet: ``{"bias": {...},
        "accessibility": {...}, "name": ...}``).
    state : dict
        ``state_dict``-style tensors (bpnet-lite key names).
    provenance : dict
        Where the model came from (source file, format, training facts).
    config : dict
        The whole stored config (native folders), else empty.
    """

    cls: str
    architecture: dict
    state: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> dict:
        """``{"class": ..., "architecture": {...}}`` as in ``config.json``."""
        return {"class": self.cls, "architecture": self.architecture}


def bpnet_receptive_half_width(stem_kernel_size: int, n_layers: int,
                               profile_kernel_size: int) -> int:
    """Positions a BPNet output base sees on either side (stem + dilated tower + profile)."""
    return ((stem_kernel_size - 1) // 2 + sum(2 ** i for i in range(1, n_layers + 1))
            + (profile_kernel_size - 1) // 2)
