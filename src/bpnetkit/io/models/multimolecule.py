"""multimolecule's BPNet checkpoints (``config.json`` + ``model.safetensors``).

multimolecule (``BpNetForProfilePrediction``, ``model_type: "bpnet"``) stores the original
BPNet of Avsec et al. 2021 (the OSKN model card) with same-padded convolutions, per-task
transposed-convolution profile heads and per-strand count heads: exactly our
``MultiTaskBPNet`` as built by ``original_bpnet``. Two differences of layout:

- its stem reads 5 one-hot channels (``ACGTN``); ours reads 4 (``ACGT``, N an all-zero
  column), so the N channel's weights are dropped: outputs are equal for sequences
  without N (an N is then all-zero in ours, its own channel in theirs);
- its outputs are position-major, ``(N, L, tasks * strands)``; ours ``(N, tasks * strands,
  L)``, in the same task-major, (plus, minus) order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bpnetkit.errors import ConfigError, InputError, MissingFileError
from bpnetkit.io.models.raw import RawModel

MODEL_TYPE = "bpnet"
ALPHABET = "ACGTN"


def is_multimolecule_config(cfg: dict) -> bool:
    """Whether a parsed ``config.json`` is a multimolecule BPNet config."""
    return isinstance(cfg, dict) and cfg.get("model_type") == MODEL_TYPE and \
        "num_dilated_layers" in cfg


def _task_names(cfg: dict, n_tasks: int) -> list[str]:
    id2label = cfg.get("id2label") or {}
    names = [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(n_tasks)]
    if all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return [f"task_{i}" for i in range(n_tasks)]
    return names


def read_multimolecule(path: str | os.PathLike) -> RawModel:
    """Read a multimolecule BPNet folder as a raw ``MultiTaskBPNet``.

    Raises
    ------
    ConfigError
        For an architecture bpnetkit cannot express (activation other than ReLU, dilated
        kernel other than 3, a vocabulary other than ACGT[N]).
    """
    from safetensors.torch import load_file

    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    cfg_path = folder / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise MissingFileError(f"no config.json in '{folder}'.") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{cfg_path}: invalid JSON at line {e.lineno}: {e.msg}.") from None
    if not is_multimolecule_config(cfg):
        raise ConfigError(f"{cfg_path}: not a multimolecule BPNet config (model_type "
                          f"{cfg.get('model_type')!r}).")
    where = str(cfg_path)
    if cfg.get("hidden_act", "relu") != "relu":
        raise ConfigError(f"{where}: hidden_act {cfg['hidden_act']!r} is not supported; "
                          f"bpnetkit's BPNet uses ReLU.")
    if int(cfg.get("dilated_kernel_size", 3)) != 3:
        raise ConfigError(f"{where}: dilated_kernel_size {cfg['dilated_kernel_size']} is not "
                          f"supported (bpnetkit's dilated layers have width 3).")
    vocab = int(cfg.get("vocab_size", 5))
    if vocab not in (4, 5):
        raise ConfigError(f"{where}: vocab_size {vocab}; expected 5 (ACGTN) or 4 (ACGT).")
    weights = folder / "model.safetensors"
    if not weights.exists():
        raise MissingFileError(f"'{weights}' is missing next to config.json (sharded "
                               f"checkpoints are not supported).")
    from bpnetkit.io._errors import decoding

    with decoding(weights, "model weights", fix="The file is truncated or damaged; download "
                  "the checkpoint again."):
        theirs = load_file(str(weights), device="cpu")
    n_layers = int(cfg.get("num_dilated_layers", 9))
    n_tasks = int(cfg.get("num_tasks", 4))
    n_strands = int(cfg.get("num_strands", 2))

    def get(key: str):
        if key not in theirs:
            raise InputError(f"'{weights}': tensor '{key}' not found; not a multimolecule "
                             f"BpNetForProfilePrediction checkpoint.")
        return theirs[key]

    state = {"iconv.weight": get("model.encoder.stem.conv.weight")[:, :4].contiguous(),
             "iconv.bias": get("model.encoder.stem.conv.bias")}
    for i in range(n_layers):
        for part in ("weight", "bias"):
            state[f"rconvs.{i}.{part}"] = get(f"model.encoder.layer.{i}.conv.{part}")
    for t in range(n_tasks):
        for part in ("weight", "bias"):
            state[f"profile_heads.{t}.{part}"] = get(f"profile_count_head.profile.{t}.{part}")
            state[f"count_heads.{t}.{part}"] = get(f"profile_count_head.count.{t}.{part}")
    arch = {"tasks": _task_names(cfg, n_tasks), "n_filters": int(cfg.get("hidden_size", 64)),
            "n_layers": n_layers, "n_strands": n_strands, "n_control_tracks": 0,
            "stem_kernel_size": int(cfg.get("stem_kernel_size", 25)),
            "profile_kernel_size": int(cfg.get("profile_kernel_size", 25)),
            "padding": "same", "profile_head": "transposed", "counts_per_strand": True,
            "name": "original_bpnet"}
    return RawModel("MultiTaskBPNet", arch, state,
                    provenance={"source": str(folder), "source_format": "multimolecule",
                                "multimolecule_architectures": cfg.get("architectures")})
