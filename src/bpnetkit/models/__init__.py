"""Model architectures: BPNet, ChromBPNet, presets and wrappers."""

from bpnetkit.models.bpnet import BPNet, center_crop
from bpnetkit.models.chrombpnet import ChromBPNet
from bpnetkit.models.wrappers import (
    ControlWrapper,
    CountWrapper,
    ProfileWrapper,
    predicted_track,
)

__all__ = ["BPNet", "ChromBPNet", "ControlWrapper", "CountWrapper", "ProfileWrapper",
           "center_crop", "predicted_track"]
