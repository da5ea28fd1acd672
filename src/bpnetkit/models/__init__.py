"""Model architectures: BPNet, ChromBPNet, multi-task BPNet, presets and wrappers."""

from bpnetkit.models.bpnet import BPNet, center_crop
from bpnetkit.models.chrombpnet import ChromBPNet
from bpnetkit.models.multitask import MultiTaskBPNet
from bpnetkit.models.presets import original_bpnet, procapnet
from bpnetkit.models.wrappers import (
    ControlWrapper,
    CountWrapper,
    ProfileWrapper,
    TaskWrapper,
    predicted_track,
)

__all__ = ["BPNet", "ChromBPNet", "ControlWrapper", "CountWrapper", "MultiTaskBPNet",
           "ProfileWrapper", "TaskWrapper", "center_crop", "original_bpnet", "predicted_track",
           "procapnet"]
