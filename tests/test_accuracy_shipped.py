"""Golden figures of the shipped KWS model on the shipped test set."""

from pathlib import Path

import numpy as np
import pytest

from accelsim.accuracy import reference
from accelsim.accuracy.dataset import builtin_kws_test_set, load_feature_set
from accelsim.accuracy.speech_commands import CLASSES
from accelsim.accuracy.weights import load_weights, weights_path
from accelsim.workload import load_workload

#: what scripts/train_kws.py measured (numpy reference on the shipped files)
GOLDEN_FLOAT = 0.9032
GOLDEN_IDEAL = 0.8865


@pytest.fixture(scope="module")
def shipped():
    workload = load_workload("kws_dscnn")
    return workload, load_weights(workload), load_feature_set(builtin_kws_test_set())


@pytest.fixture(scope="module")
def measured(shipped):
    workload, weights, test = shipped
    x = test.features.astype(np.float32)
    return {path: reference.accuracy(workload, weights, x, test.labels, path=path)
            for path in ("float", "quantised")}


def test_the_test_set_holds_at_least_2000_clips_of_every_class(shipped):
    _, weights, test = shipped
    assert len(test) >= 2000
    assert test.features.shape[1:] == (49, 10)
    assert test.classes == CLASSES == weights.classes
    assert min(test.class_counts().values()) >= 100


def test_float_and_ideal_quantised_accuracy_are_what_the_training_measured(shipped, measured):
    _, weights, _ = shipped
    assert abs(measured["float"] - weights.trained_accuracy_float) <= 0.005
    assert abs(measured["quantised"] - weights.trained_accuracy_ideal) <= 0.005
    assert abs(measured["float"] - GOLDEN_FLOAT) <= 0.005
    assert abs(measured["quantised"] - GOLDEN_IDEAL) <= 0.005


def test_the_model_is_meaningful_and_quantisation_costs_little(measured):
    assert measured["float"] > 0.85
    assert measured["float"] - measured["quantised"] <= 0.06


def test_the_shipped_files_are_small():
    weights = weights_path(load_workload("kws_dscnn"))
    assert Path(weights).stat().st_size < 300_000
    assert builtin_kws_test_set().stat().st_size < 3_000_000
