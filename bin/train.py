"""Trains the MNIST convnet with the hand-written loop: python bin/train.py [--flags].

Examples:
  python bin/train.py                                  # the Keras example: 15 epochs, Adam 1e-3
  python bin/train.py --epochs=1 --steps_per_epoch=50  # a quick look
  python bin/train.py --device=gpu --jit_compile       # on a GPU, XLA-compiled
  python bin/train.py --resume --logdir=logs/20261126-184502   # continue a killed run
  python bin/train.py --flagfile=my.flags              # flags from a file, one per line
"""

import _app  # first: quiets TensorFlow before it is imported

import contextlib
import dataclasses
import importlib.util
import os
import sys

from absl import flags

from mnist_tf import devices, distribute, export, models, onednn, precision
from mnist_tf.errors import first_line
from mnist_tf.optimizers import OPTIMIZERS, SCHEDULES
from mnist_tf.runs import interrupts
from mnist_tf.runs.layout import default_logdir, newest_run
from mnist_tf.runs.resume import run_config
from mnist_tf.runs.run import Run
from mnist_tf.training import config as config_lib
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train

DEFAULTS = TrainConfig()
FLAGS = flags.FLAGS

flags.DEFINE_enum("device", "auto", devices.DEVICE_CHOICES,
                  "Where to train: auto (a GPU when one is visible), cpu (GPUs hidden) or gpu "
                  "(an error when none is visible).")
flags.DEFINE_enum("onednn", "auto", onednn.CHOICES,
                  "CPU kernels: oneDNN's (on), TensorFlow's own (off), or TensorFlow's choice "
                  "for this CPU (auto: oneDNN only on CPUs with VNNI, BF16 or AMX "
                  "instructions). Acts at TensorFlow's import (mnist_tf/onednn.py).")
flags.DEFINE_enum("model", DEFAULTS.model, sorted(models.MODELS),
                  "Which network to train (mnist_tf.models.MODELS).")
flags.DEFINE_integer("epochs", DEFAULTS.epochs, "Passes over the training set.")
flags.DEFINE_integer("batch_size", DEFAULTS.batch_size,
                     "Images per training step (the global batch under --strategy).")
flags.DEFINE_float("learning_rate", DEFAULTS.learning_rate,
                   "The optimizer's learning rate (the peak, under --lr_schedule).")
flags.DEFINE_enum("lr_schedule", DEFAULTS.lr_schedule, SCHEDULES,
                  "constant; exponential (down to --lr_decay_rate by the end); cosine (linear "
                  "warm-up over --warmup_steps, then a cosine to 0); one_cycle (linear up to the "
                  "peak at --warmup_steps, linear down to 0).")
flags.DEFINE_integer("warmup_steps", DEFAULTS.warmup_steps,
                     "Warm-up steps of --lr_schedule=cosine, peak step of one_cycle.")
flags.DEFINE_float("lr_decay_rate", DEFAULTS.lr_decay_rate,
                   "--lr_schedule=exponential: the learning rate's factor by the last step.")
flags.DEFINE_float("weight_decay", DEFAULTS.weight_decay,
                   "--optimizer=adamw: decoupled weight decay λ (θ ← θ − η λ θ each step).")
flags.DEFINE_float("label_smoothing", DEFAULTS.label_smoothing,
                   "Train against (1 − ε)·onehot + ε/10 instead of the one-hot labels.")
flags.DEFINE_bool("augment", DEFAULTS.augment,
                  "Randomly rotate, shift and zoom each training image (one affine map each).")
for _name, _help in (("augment_rotation", "largest rotation, degrees either way"),
                     ("augment_shift", "largest shift, pixels along each axis"),
                     ("augment_zoom", "zoom within [1 - z, 1 + z]")):
    flags.DEFINE_float(_name, getattr(DEFAULTS, _name), f"--augment: {_help}.")
flags.DEFINE_enum("optimizer", DEFAULTS.optimizer, OPTIMIZERS,
                  "adam (Keras's Adam), adamw (Adam with --weight_decay), sgd (plain), or "
                  "momentum (SGD with --momentum).")
flags.DEFINE_float("momentum", DEFAULTS.momentum, "Momentum for --optimizer=momentum.")
flags.DEFINE_integer("seed", DEFAULTS.seed,
                     "Seeds the initial weights, the data order and the dropout masks.",
                     lower_bound=0)
flags.DEFINE_string("data_dir", None,
                    "A directory holding the four MNIST .gz files (used alone). Default: the "
                    "cache ($MNIST_TF_DATA or ~/.cache/mnist_tf), downloading when needed.")
flags.DEFINE_float("validation_split", DEFAULTS.validation_split,
                   "Fraction of the training set held out for validation (the last part).")
flags.DEFINE_string("logdir", None, "TensorBoard directory of this run. Default: logs/<timestamp>.")
flags.DEFINE_string("checkpoint_dir", DEFAULTS.checkpoint_dir,
                    "Checkpoint directory. Default: <logdir>/checkpoints. Saved in the run's "
                    "config.json, so --resume and evaluate.py find it from the logdir.")
flags.DEFINE_bool("resume", False,
                  "Continue the run in --logdir (default: the newest run under logs/) from its "
                  "last checkpoint, with its saved settings unless flags override them.")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch, for quick runs.")
flags.DEFINE_bool("jit_compile", DEFAULTS.jit_compile, "XLA-compile the training step.")
flags.DEFINE_bool("deterministic", DEFAULTS.deterministic,
                  "Ask every TensorFlow kernel for a deterministic implementation "
                  "(tf.config.experimental.enable_op_determinism): for a GPU, where some are "
                  "not by default; on a CPU runs repeat bit for bit without it.")
flags.DEFINE_enum("precision", DEFAULTS.precision, config_lib.PRECISIONS,
                  "float32; mixed_bfloat16 or mixed_float16: float32 weights, layers computing "
                  "in bfloat16/float16 (Keras's mixed-precision policies); float16 adds dynamic "
                  "loss scaling.")
flags.DEFINE_enum("gradients", DEFAULTS.gradients, config_lib.GRADIENTS,
                  "tape: tf.GradientTape; manual: the hand-written backward pass "
                  "(mnist_tf.backprop).")
flags.DEFINE_integer("steps_per_loop", DEFAULTS.steps_per_loop,
                     "Training steps per tf.function call (Keras's steps_per_execution); a "
                     "call also ends at each --log_every step, so raise that too for long calls.",
                     lower_bound=1)
flags.DEFINE_integer("log_every", DEFAULTS.log_every, "Steps between per-step scalar summaries.")
flags.DEFINE_integer("histogram_every", DEFAULTS.histogram_every,
                     "Steps between weight and gradient histograms; 0 = once per epoch.")
flags.DEFINE_integer("checkpoint_every_steps", DEFAULTS.checkpoint_every_steps,
                     "Also checkpoint every this many steps inside an epoch, so that a killed run "
                     "resumes from there; 0 = at epoch ends only.")
flags.DEFINE_bool("explain_images", DEFAULTS.explain_images,
                  "explain/* images (activations, δ, attributions) of 8 test digits per epoch.")
flags.DEFINE_bool("profile", DEFAULTS.profile,
                  "Write a profiler trace of ten training steps (TensorBoard's Profile tab).")
flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES,
                  "default: one device. mirrored: tf.distribute.MirroredStrategy over all local "
                  "GPUs (or --num_cpu_devices logical CPUs). multi_worker: "
                  "MultiWorkerMirroredStrategy over the machines in the TF_CONFIG variable.")
flags.DEFINE_float("collective_timeout", distribute.COLLECTIVE_TIMEOUT,
                   "With --strategy=multi_worker: seconds a collective (the gradient all-reduce, "
                   "a save, the agreement on a signal) waits for the other workers before it "
                   "fails, so that a worker whose peer died exits with one line instead of "
                   "hanging. Lower: a dead peer is noticed sooner; it must stay longer than "
                   "any stretch one worker works alone (start-up skew, an epoch's end).",
                   lower_bound=0.001)
flags.DEFINE_integer("num_cpu_devices", 0,
                     "With --strategy=mirrored: split the CPU into this many logical devices, "
                     "one replica each (to try data parallelism without GPUs).", lower_bound=0)
flags.DEFINE_bool("export", DEFAULTS.export, "Write a SavedModel into <logdir>/export at the end.")

# Settings that belong to the run's config (saved in config.json, reloaded by --resume).
CONFIG_FLAGS = [f.name for f in dataclasses.fields(TrainConfig) if f.name in FLAGS]


def _config_and_logdir():
    """The run's config and logdir: from flags, or from the saved run when resuming."""
    logdir = FLAGS.logdir
    if FLAGS.resume and not logdir:
        logdir = newest_run()
        print(f"resuming the newest run: {logdir}")
    logdir = logdir or default_logdir()
    settings = {name: FLAGS[name].value for name in CONFIG_FLAGS}
    given = [name for name in CONFIG_FLAGS if FLAGS[name].present]
    return run_config(logdir, FLAGS.resume, settings, given), logdir


def main(argv):
    del argv
    config, logdir = _config_and_logdir()
    device = devices.select_device(FLAGS.device)
    import tensorflow as tf
    if config.deterministic:  # process-wide, before the first kernel runs
        tf.config.experimental.enable_op_determinism()
    strategy = (None if FLAGS.strategy == "default"
                else distribute.make_strategy(FLAGS.strategy, FLAGS.num_cpu_devices,
                                              timeout_seconds=FLAGS.collective_timeout))
    with Run(config, logdir, FLAGS.resume, strategy) as run:  # the lock and the one check
        if run.finished is not None:
            accuracy = run.finished.get("test_accuracy")
            print(f"{logdir} is finished: {config.epochs} epochs, test accuracy "
                  f"{'unknown' if accuracy is None else f'{accuracy:.4f}'}; nothing to do, its "
                  f"record is left as it is (pass --epochs={config.epochs + 1} or more to "
                  "train it further)")
            return
        _describe(device, strategy, logdir, config)
        peer_lost = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                     tf.errors.CancelledError)
        try:
            with tf.device(device) if strategy is None else contextlib.nullcontext(), \
                    interrupts.stop_on_signals(hold_after_stop=True):
                run.start(data_dir=FLAGS.data_dir,
                          extra_hparams={"device": FLAGS.device, "strategy": FLAGS.strategy,
                                         "onednn": onednn.enabled()})
                metrics = train(run, export_fn=export.export_saved_model)
        except interrupts.Interrupted as e:  # saved: one line, the signal's exit status
            print(e, file=sys.stderr, flush=True)
            sys.exit(e.exit_status)
        except peer_lost as e:
            if strategy is None:
                raise
            _app.fail(f"lost contact with another worker ({type(e).__name__}: {first_line(e)}); "
                      "restart all workers with --resume to continue from the chief's checkpoint")
    written = (f"metrics: {os.path.join(logdir, 'metrics.json')}"
               if distribute.is_chief(strategy) else "the chief writes the metrics and logs")
    print(f"test accuracy {metrics['test_accuracy']:.4f}; {written}")


def _describe(device, strategy, logdir, config) -> None:
    """The lines a run starts with: where it trains, its logdir, a note on the precision."""
    trains_on = [device] if strategy is None else list(strategy.extended.worker_devices)
    if strategy is None:
        kernels = f", oneDNN {'on' if onednn.enabled() else 'off'}" if "CPU" in device else ""
        print(f"device: {devices.describe(device)}{kernels}")
    else:
        print(f"strategy: {type(strategy).__name__}, {strategy.num_replicas_in_sync} replicas "
              f"on {', '.join(trains_on)}")
    print(f"logdir: {logdir}  (tensorboard --logdir {os.path.dirname(logdir) or '.'})")
    if all("CPU" in d for d in trains_on):  # what the precision costs on a CPU
        note = precision.cpu_note(config.precision, onednn_on=onednn.enabled())
        if note:
            print(f"note: {note}")
    kernels_note = onednn.mismatch(FLAGS.onednn)
    if kernels_note:
        print(f"note: {kernels_note}")
    if config.profile and importlib.util.find_spec("xprof") is None:
        print("note: the profiler's trace is written into the logdir; TensorBoard's Profile tab, "
              "which shows it, needs the profile extra: pip install -e \".[profile]\"")


if __name__ == "__main__":
    _app.run(main)
