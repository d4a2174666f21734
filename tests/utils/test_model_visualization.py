"""plot_model / model_to_dot: dot output through pydot, clear ImportErrors without it."""

from __future__ import annotations

import builtins
import importlib.util

import pytest

import epochal
from epochal import layers
from epochal.utils import model_to_dot, plot_model
from epochal.utils import model_visualization as viz

HAS_PYDOT = importlib.util.find_spec("pydot") is not None


def _functional():
    inputs = epochal.Input((3,))
    a = layers.Dense(4, activation="relu", name="left")(inputs)
    b = layers.Dense(2, name="right")(inputs)
    return epochal.Model(inputs, layers.Concatenate(name="joined")([a, b]))


def test_without_pydot_plot_model_names_what_to_install(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_pydot(name, *args, **kwargs):
        if name == "pydot":
            raise ImportError("No module named 'pydot'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pydot)
    with pytest.raises(ImportError, match=r"pip install pydot"):
        plot_model(_functional(), to_file=tmp_path / "m.png")
    with pytest.raises(ImportError, match=r"pip install pydot"):
        model_to_dot(_functional())


@pytest.mark.skipif(not HAS_PYDOT, reason="pydot is not installed")
def test_functional_graph_edges_and_labels(tmp_path):
    dot = model_to_dot(_functional(), show_layer_activations=True).to_string()
    assert 'label="left (Dense)\\nactivation: relu"' in dot
    assert 'label="right (Dense)\\nactivation: linear"' in dot
    assert dot.count("->") == 4  # input -> left, input -> right, left/right -> joined
    path = tmp_path / "model.dot"
    assert plot_model(_functional(), to_file=path, show_layer_names=True) is None
    assert "joined (Concatenate)" in path.read_text()


@pytest.mark.skipif(not HAS_PYDOT, reason="pydot is not installed")
def test_sequential_chain_with_shapes():
    model = epochal.Sequential([layers.Dense(4), layers.Dense(1)])
    model.build((None, 3))
    dot = model_to_dot(model, show_shapes=True, show_trainable=True).to_string()
    assert "output shape: (None, 4)" in dot and "output shape: (None, 1)" in dot
    assert "trainable: True" in dot and dot.count("->") == 1


@pytest.mark.skipif(not HAS_PYDOT, reason="pydot is not installed")
def test_images_without_graphviz_name_graphviz(monkeypatch, tmp_path):
    import pydot

    def missing(*args, **kwargs):
        raise FileNotFoundError("dot not found")

    monkeypatch.setattr(pydot.Dot, "create", missing)
    with pytest.raises(ImportError, match="graphviz"):
        plot_model(_functional(), to_file=tmp_path / "m.png")


@pytest.mark.skipif(not HAS_PYDOT, reason="pydot is not installed")
def test_refused_arguments(tmp_path):
    with pytest.raises(NotImplementedError, match="expand_nested"):
        model_to_dot(_functional(), expand_nested=True)
    with pytest.raises(ValueError, match="layer_range"):
        plot_model(_functional(), to_file=tmp_path / "m.dot", layer_range=["a", "b"])
    unbuilt = epochal.Sequential([layers.Dense(1)])
    with pytest.raises(ValueError, match="not yet been built"):
        plot_model(unbuilt, to_file=tmp_path / "m.dot")
    assert viz._SOURCE_FORMATS["dot"] == "raw"
