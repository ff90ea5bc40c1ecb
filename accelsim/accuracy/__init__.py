"""Functional inference and accuracy: datasets, the MFCC front end, trained weights,
post-training quantisation of a float network, the reference (float and
ideal-quantised) inference of a workload, the analog inference through the
mapped chip, and the accuracy study."""

from accelsim.accuracy.analog import AnalogChip, analog_pass, build_chip, ideal_arch
from accelsim.accuracy.dataset import FeatureSet, builtin_kws_test_set, load_feature_set
from accelsim.accuracy.mfcc import KWS_MFCC, MfccParams, mfcc
from accelsim.accuracy.ptq import PtqOptions, quantise
from accelsim.accuracy.reference import Matmul, accuracy, check_evaluable, forward, ideal_matmul, predict
from accelsim.accuracy.speech_commands import CLASSES, load_split, read_wav
from accelsim.accuracy.study import AccuracyStudy, evaluate_accuracy, load_test_set, point_accuracy
from accelsim.accuracy.weights import NetworkWeights, load_weights, weights_path

__all__ = [
    "AccuracyStudy",
    "AnalogChip",
    "CLASSES",
    "KWS_MFCC",
    "FeatureSet",
    "Matmul",
    "MfccParams",
    "NetworkWeights",
    "PtqOptions",
    "accuracy",
    "analog_pass",
    "build_chip",
    "check_evaluable",
    "evaluate_accuracy",
    "builtin_kws_test_set",
    "forward",
    "ideal_arch",
    "ideal_matmul",
    "load_feature_set",
    "load_split",
    "load_test_set",
    "load_weights",
    "mfcc",
    "point_accuracy",
    "predict",
    "quantise",
    "read_wav",
    "weights_path",
]
