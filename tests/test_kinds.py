"""The layer-kind registry (accelsim.workload.kinds.KINDS): one entry per schema layer type,
and the figures shape inference gives every layer are its kind's."""

from __future__ import annotations

import typing

import pytest

from accelsim.accuracy import reference
from accelsim.config import load_arch
from accelsim.workload import KINDS, load_workload
from accelsim.workload.schema import Layer

SHIPPED = ("kws_dscnn", "mlp", "resnet18_cifar10", "mobilenet_v1", "resnet18_imagenet", "bert_tiny_layer")


def _schema_types() -> dict[str, type]:
    union = typing.get_args(Layer)[0]
    return {t: cls for cls in typing.get_args(union)
            for t in typing.get_args(cls.model_fields["type"].annotation)}


def test_every_schema_layer_type_has_a_registry_entry_and_nothing_else():
    types = _schema_types()
    assert set(KINDS) == set(types)
    for name, kind in KINDS.items():
        assert kind.type == name and kind.schema is types[name]


def test_each_kind_is_of_one_class():
    for kind in KINDS.values():
        assert kind.weights + kind.activation_matmul + kind.data_movement <= 1, kind.type
        assert (kind.channel_axis is not None) == kind.weights, kind.type
        assert kind.digital_option is None or kind.weights, kind.type


#: the kinds the reference inference has no arithmetic for: an eltwise layer (a scale or a bias the
#: weights file cannot hold) and the kinds only imported ONNX models use so far
NOT_EVALUATED = {"eltwise", "conv_transpose2d", "embedding", "slice", "resize_nearest", "resize_bilinear"}


def test_the_reference_inference_computes_every_kind_but_the_listed_ones():
    """Weight kinds through a matrix product, the others in the digital unit, but NOT_EVALUATED."""
    assert set(reference.PRODUCTS) == {t for t, k in KINDS.items() if k.weights} - NOT_EVALUATED
    assert set(reference.DIGITAL) == {t for t, k in KINDS.items() if not k.weights} - NOT_EVALUATED


@pytest.mark.parametrize("name", SHIPPED)
def test_registry_figures_equal_the_workloads_for_every_shipped_workload(name):
    w = load_workload(name)
    assert {layer.kind for layer in w.layers} <= set(KINDS)
    for layer in w.layers:
        fig = KINDS[layer.kind].infer(layer.spec, list(layer.in_shapes))
        assert fig.macs == layer.macs, layer.name
        assert (fig.out, fig.k, fig.n, fig.groups, fig.vectors, fig.digital_ops, fig.weights, fig.weight_shape) \
            == (layer.out_shape, layer.k, layer.n, layer.groups, layer.vectors, layer.digital_ops, layer.weights,
                layer.weight_shape), layer.name
        assert layer.macs == layer.k * layer.n * layer.groups * layer.vectors
    assert sum(KINDS[layer.kind].infer(layer.spec, list(layer.in_shapes)).macs for layer in w.layers) == w.total_macs


def test_depthwise_runs_on_macros_only_when_the_mapping_says_so():
    digital = load_arch("mram72", ["mapping.depthwise=digital"]).mapping
    macro = load_arch("mram72", ["mapping.depthwise=macro"]).mapping
    dw, conv, pool = KINDS["depthwise_conv2d"], KINDS["conv2d"], KINDS["avgpool"]
    assert not dw.runs_on_macros(digital) and dw.runs_on_macros(macro)
    assert conv.runs_on_macros(digital) and conv.runs_on_macros(macro)
    assert not pool.runs_on_macros(macro)


def test_attributes_follow_the_schema():
    assert KINDS["conv2d"].accepts("bias") and KINDS["eltwise"].accepts("scale")
    assert not KINDS["avgpool"].accepts("bias") and not KINDS["linear"].accepts("scale")
    assert all(k.accepts("activation") and k.accepts("batch_norm") for k in KINDS.values())
