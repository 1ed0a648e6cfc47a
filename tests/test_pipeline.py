"""The tf.data input: conversion, (seed, epoch) order, skip_batches, Keras's validation split."""

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf.data import pipeline

N = 100


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(N)  # pixel (0, 0) names the example, to follow the order
    return images, rng.integers(0, 10, N, dtype=np.uint8)


def ids(dataset):
    """The examples of each batch, by the id in pixel (0, 0), as lists."""
    return [np.rint(x[:, 0, 0, 0].numpy() * 255).astype(int).tolist() for x, _ in dataset]


def test_batches_shapes_dtypes_ranges(data):
    images, labels = data
    batches = list(pipeline.train_dataset(images, labels, 32, seed=1, epoch=0))
    assert [len(y) for _, y in batches] == [32, 32, 32, 4]  # the last partial batch is kept
    for x, y in batches:
        assert x.dtype == tf.float32 and y.dtype == tf.int32
        assert x.shape[1:] == (28, 28, 1)
        assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
    spec = pipeline.train_dataset(images, labels, 32, seed=1, epoch=0).element_spec
    assert spec[0].shape.as_list() == [None, 28, 28, 1] and spec[1].shape.as_list() == [None]


def test_images_match_labels_and_keras_conversion(data):
    images, labels = data
    for x, y in pipeline.train_dataset(images, labels, 16, seed=3, epoch=2):
        index = np.rint(x[:, 0, 0, 0].numpy() * 255).astype(int)
        expected = images[index].astype("float32")[..., None] / 255  # the Keras example's line
        np.testing.assert_array_equal(x.numpy(), expected)
        np.testing.assert_array_equal(y.numpy(), labels[index])


def test_every_example_once_per_epoch(data):
    for epoch in range(3):
        order = sum(ids(pipeline.train_dataset(*data, 7, seed=5, epoch=epoch)), [])
        assert sorted(order) == list(range(N))


def test_order_is_a_function_of_seed_and_epoch(data):
    first = ids(pipeline.train_dataset(*data, 10, seed=42, epoch=3))
    assert ids(pipeline.train_dataset(*data, 10, seed=42, epoch=3)) == first
    assert ids(pipeline.train_dataset(*data, 10, seed=42, epoch=4)) != first
    assert ids(pipeline.train_dataset(*data, 10, seed=43, epoch=3)) != first
    assert sum(first, []) != list(range(N))  # shuffled at all


def test_epoch_order_is_stable_across_versions():
    # A resumed run must see the order the first run saw: pin it, so a change is noticed.
    assert pipeline.epoch_order(10, seed=0, epoch=0).tolist() == [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]
    assert pipeline.epoch_order(10, seed=1, epoch=2).tolist() == [8, 5, 6, 0, 9, 1, 4, 3, 7, 2]


@pytest.mark.parametrize("skip", [0, 1, 3, 10, 11])
def test_skip_batches_resumes_mid_epoch(data, skip):
    whole = ids(pipeline.train_dataset(*data, 10, seed=7, epoch=1))
    resumed = pipeline.train_dataset(*data, 10, seed=7, epoch=1, skip_batches=skip)
    assert ids(resumed) == whole[skip:]


def test_eval_dataset_in_order(data):
    images, labels = data
    batches = list(pipeline.eval_dataset(images, labels, 30))
    assert ids(batches) == [list(range(i, min(i + 30, N))) for i in range(0, N, 30)]
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), labels)
    assert batches[0][0].dtype == tf.float32 and batches[0][1].dtype == tf.int32


def test_to_float():
    images = np.array([[[0, 1], [254, 255]]], np.uint8)
    x = pipeline.to_float(images)
    assert x.shape == (1, 2, 2, 1) and x.dtype == tf.float32
    np.testing.assert_array_equal(x.numpy()[..., 0], images.astype("float32") / 255)


@pytest.mark.parametrize("n, batch, steps", [(60000, 128, 469), (100, 10, 10), (101, 10, 11),
                                             (0, 5, 0), (1, 128, 1)])
def test_steps_per_epoch(n, batch, steps):
    assert pipeline.steps_per_epoch(n, batch) == steps


def test_steps_per_epoch_counts_the_dataset(data):
    assert len(list(pipeline.train_dataset(*data, 13, seed=0, epoch=0))) == \
        pipeline.steps_per_epoch(N, 13)


def test_bad_batch_size(data):
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.steps_per_epoch(10, 0)
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.eval_dataset(*data, 0)


@pytest.mark.parametrize("n", [100, 101, 59999, 60000, 7])
@pytest.mark.parametrize("split", [0.1, 0.2, 0.25, 0.3, 0.5, 0.15, 1 / 3])
def test_validation_split_equals_keras(n, split):
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    x, y = np.arange(n), np.arange(n) * 2
    (x_train, y_train), (x_val, y_val) = pipeline.split_validation(x, y, split)
    (kx_train, ky_train), (kx_val, ky_val) = train_validation_split((x, y), split)
    for ours, theirs in zip((x_train, y_train, x_val, y_val), (kx_train, ky_train, kx_val, ky_val)):
        np.testing.assert_array_equal(ours, theirs)


def test_validation_split_mnist_sizes():
    (x_train, _), (x_val, _) = pipeline.split_validation(np.zeros(60000), np.zeros(60000), 0.1)
    assert (len(x_train), len(x_val)) == (54000, 6000)


def test_validation_split_zero_is_empty():
    (x_train, y_train), (x_val, y_val) = pipeline.split_validation(np.arange(10), np.arange(10), 0)
    assert len(x_train) == 10 and len(x_val) == 0 and len(y_val) == 0


@pytest.mark.parametrize("split", [-0.1, 1.0, 1.5])
def test_validation_split_out_of_range(split):
    with pytest.raises(ValueError, match="validation_split"):
        pipeline.split_validation(np.arange(10), np.arange(10), split)
