"""Keras-style layers built from kiln's graph ops.

Every layer builds its computation as graph ops (so models compile into one training step)
and holds its weights as numpy arrays shared with every program built from it. See
:mod:`frontend.layers.base` for how layers are called and built, and
:mod:`frontend.layers.torch_layout` for converting weights to and from PyTorch.
"""
from frontend.layers.base import Layer, LayerError, Weight
from frontend.layers.convolutional import Conv2D
from frontend.layers.core import Activation, Dense, Flatten, Input, InputLayer, Lambda, Reshape
from frontend.layers.embedding import Embedding
from frontend.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply,
                                     Subtract)
from frontend.layers.normalization import BatchNormalization
from frontend.layers.pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D,
                                     GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from frontend.layers.recurrent import GRU, LSTM, SimpleRNN
from frontend.layers.regularization import Dropout
from frontend.layers.tracing import KerasTensor, Tensor
from frontend.layers.torch_layout import from_torch, load_torch, to_torch

__all__ = ["Layer", "LayerError", "Weight", "Input", "InputLayer", "Dense", "Activation",
           "Flatten", "Reshape", "Lambda", "Dropout", "Embedding", "Conv2D", "MaxPooling2D",
           "AveragePooling2D", "MaxPool2D", "AvgPool2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "BatchNormalization", "SimpleRNN", "LSTM", "GRU", "Add",
           "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "KerasTensor",
           "Tensor", "from_torch", "to_torch", "load_torch"]
