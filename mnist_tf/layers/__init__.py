"""Layers as tf.Modules, one concept per file, with Keras's names, arguments and layouts."""

from mnist_tf.layers.activation_layer import Activation
from mnist_tf.layers.activations import get, relu, softmax
from mnist_tf.layers.base import Layer
from mnist_tf.layers.conv import Conv2D
from mnist_tf.layers.dense import Dense
from mnist_tf.layers.dropout import Dropout
from mnist_tf.layers.normalization import BatchNormalization
from mnist_tf.layers.pooling import MaxPool2D
from mnist_tf.layers.reshaping import Flatten
from mnist_tf.layers.sequential import Sequential

__all__ = ["Activation", "BatchNormalization", "Conv2D", "Dense", "Dropout", "Flatten", "Layer",
           "MaxPool2D", "Sequential", "get", "relu", "softmax"]
