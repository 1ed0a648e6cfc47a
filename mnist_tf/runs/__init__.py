"""The machinery that runs a run: logdir layout and lock, the one resume check, checkpoints
(listing, repair, restore), signals, full disks, workers, the final report.

A first reader studying what ``model.fit`` does can skip this package: ``mnist_tf/training/``
holds the training itself (the step, the loop, the data, TensorBoard), and reads top to bottom.
"""
