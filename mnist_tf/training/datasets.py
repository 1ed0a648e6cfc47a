"""A run's data: the validation split, and one ``tf.data`` pipeline per epoch (``model.fit``'s
``validation_split`` and its per-epoch shuffle).

The arrays are split and converted to tensors once per run; each epoch then
builds only a cheap index pipeline over them (see ``mnist_tf.data.pipeline``).
Under a ``tf.distribute`` strategy every global batch is split across the
replicas (and workers).
"""

import tensorflow as tf

from mnist_tf.data import augment, pipeline
from mnist_tf.errors import SettingError


class RunData:
    """Training, validation and test tensors of one run, and their datasets.

    Args:
      config: the run's ``TrainConfig`` (batch size, validation split, step cap).
      data: an ``MnistArrays`` (uint8 images, integer labels).
      strategy: the run's strategy; the training batches of a real (non-default)
        one are distributed.

    Raises:
      SettingError: ``validation_split`` leaves no training example.
    """

    def __init__(self, config, data, strategy):
        try:
            train, validation = pipeline.split_validation(data.x_train, data.y_train,
                                                          config.validation_split)
        except ValueError as e:
            raise SettingError("validation_split", str(e)) from e
        self.train = pipeline.as_tensors(*train)
        self.validation = pipeline.as_tensors(*validation)
        self.test = pipeline.as_tensors(data.x_test, data.y_test)
        self.config, self.strategy = config, strategy
        self.distributed = strategy is not tf.distribute.get_strategy()
        steps = pipeline.steps_per_epoch(len(self.train[0]), config.batch_size)
        self.steps_per_epoch = min(steps, config.steps_per_epoch or steps)

    def sizes(self) -> str:
        """``54,000 training / 6,000 validation / 10,000 test images``."""
        return (f"{len(self.train[0]):,} training / {len(self.validation[0]):,} validation / "
                f"{len(self.test[0]):,} test images")

    def train_epoch(self, seed: int, epoch: int, skip_batches: int = 0):
        """Epoch ``epoch``'s batches from batch ``skip_batches`` on, in the (seed, epoch) order
        (distributed under a real strategy)."""
        dataset = self._train_batches(seed, epoch, skip_batches)
        if not self.distributed:
            return dataset
        options = tf.data.Options()
        # The data is in memory, not in files: shard by element, each worker its part of a batch.
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    def first_images(self, seed: int):
        """The run's first batch of training images, as the network sees them [B, 28, 28, 1]."""
        return next(iter(self._train_batches(seed, 0, 0)))[0]

    def _train_batches(self, seed: int, epoch: int, skip_batches: int):
        dataset = pipeline.train_dataset(*self.train, self.config.batch_size, seed=seed,
                                         epoch=epoch, skip_batches=skip_batches)
        dataset = dataset.take(self.steps_per_epoch - skip_batches)
        if self.config.augment:  # the training set only; (seed, epoch, batch) fixes each map
            dataset = augment.augment_dataset(
                dataset, seed, epoch, skip_batches=skip_batches,
                max_rotation_degrees=self.config.augment_rotation,
                max_shift=self.config.augment_shift, max_zoom=self.config.augment_zoom,
            ).prefetch(tf.data.AUTOTUNE)
        return dataset

    def element_spec(self):
        """The training step's input signature: a (distributed) batch's spec."""
        return self.train_epoch(seed=0, epoch=0).element_spec

    def validation_batches(self):
        return pipeline.eval_dataset(*self.validation, self.config.batch_size)

    def test_batches(self):
        return pipeline.eval_dataset(*self.test, self.config.batch_size)
