"""A page to draw a digit on and watch both passes: python bin/serve.py --model RUN

Serves http://127.0.0.1:PORT/ (mnist_tf/explain/server.py): draw a digit with
the mouse or a finger; the page shows the 28x28 input after bin/predict.py's
preprocessing, the probabilities, every layer's activations, every layer's
δ = ∂z_c/∂y and the attributions (saliency, gradient x input, SmoothGrad,
integrated gradients, Grad-CAM) for the predicted class or the one you click;
each panel names its formula and links its source file.

RUN is a run's logdir or a checkpoint. The server binds 127.0.0.1 (this
machine only) unless --host says otherwise, and says so when it does.
--port=0 picks a free port. Ctrl-C stops it.

Example:
  python bin/serve.py --model logs/20261126-184502 --port 8000
"""

import _app  # first: quiets TensorFlow before it is imported

import ipaddress

from absl import flags
from werkzeug.serving import make_server

from mnist_tf.explain.server import ExplainApp

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A run's logdir, a checkpoint directory or a checkpoint prefix.")
flags.DEFINE_string("host", "127.0.0.1", "Address to bind; 0.0.0.0 serves every network.")
flags.DEFINE_integer("port", 8000, "Port; 0 picks a free one.", lower_bound=0, upper_bound=65535)
flags.DEFINE_integer("concurrency", 2, "Explanations computed at a time (others wait).",
                     lower_bound=1, upper_bound=64)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv):
    if len(argv) > 1:
        _app.fail(f"unexpected arguments {' '.join(argv[1:])}: python bin/serve.py --model RUN",
                  status=2)
    if FLAGS.model is None:
        _app.fail("--model: pass a run's logdir or a checkpoint", status=2)
    from mnist_tf.runs import saved_runs

    model, prefix = saved_runs.load_model(FLAGS.model)
    app = ExplainApp(model, FLAGS.concurrency)
    app.warm_up()
    try:
        server = make_server(FLAGS.host, FLAGS.port, app, threaded=True)
    except OSError as e:
        _app.fail(f"--port: cannot listen on {FLAGS.host}:{FLAGS.port} ({e.strerror or e})")
    host, port = server.server_address[:2]
    print(f"model: {prefix}", flush=True)
    if not _is_loopback(FLAGS.host):
        print(f"note: bound to {host}, not 127.0.0.1: other machines can reach this page",
              flush=True)
    print(f"serving http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/  (Ctrl-C stops)",
          flush=True)
    server.serve_forever()  # werkzeug's returns on Ctrl-C (SIGINT), the socket closed
    print("stopped", flush=True)


if __name__ == "__main__":
    _app.run(main)
