"""Prediction and attribution default to the input window the model was trained with."""

from __future__ import annotations

from bpnetkit.models import BPNet
from bpnetkit.models.files import load_model, save_model
from bpnetkit.steps._regions import model_input_length


def test_window_comes_from_training_provenance(tmp_path):
    model = BPNet(n_filters=4, n_layers=2, n_outputs=2, n_control_tracks=0)
    save_model(model, tmp_path / "trained", provenance={"in_window": 306, "out_window": 200})
    save_model(model, tmp_path / "plain")
    assert model_input_length(load_model(tmp_path / "trained")) == 306
    assert model_input_length(load_model(tmp_path / "plain")) == 2114
    assert model_input_length(load_model(tmp_path / "plain"), default=500) == 500
