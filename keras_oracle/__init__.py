"""The oracle: Keras twins of this project's models, for the tests and the comparison tools.

``mnist_tf/`` never imports Keras; this package does, so that ``tests/`` and ``bin/`` can
build the Keras network that matches each of ours and copy our weights into it
(``twins.make_twin``, ``twins.copy_weights``).
"""
