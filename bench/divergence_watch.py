"""How the divergence watch treats issue 21's spike that recovers, on the real grading subset.

Trains the reference with the catalogue's ``sigmoid-output-multiclass`` mutation (issue 21's
Part-3 student: sigmoid outputs, the softmax's backward) for 500 epochs from the grading init on
``rubric.yaml``'s subset, in this process, with the watch of the lab2check it imports, and prints
where the run stopped, its loss at epochs 0, 1 and the last, and the grader's loss and accuracy
of the returned parameters in the lab's model. Run it from a checkout:

    .venv/bin/python bench/divergence_watch.py            # this checkout's watch
    PYTHONPATH=/work/main .venv/bin/python bench/divergence_watch.py   # another checkout's lab2check
"""
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main():
    import lab2check
    from grader import api
    from grader.answers import data as answers_data
    from grader.answers import mutations, requests
    from grader.submission import training
    from lab2check import checks, local
    rubric = api.load_rubric(Path(__file__).resolve().parent.parent / "rubric.yaml")
    data = answers_data.grading_data(rubric)
    init = requests.initial_params("q3_3", rubric)
    arrays, options = requests.train_request("q3_3", rubric, data, init)
    with tempfile.TemporaryDirectory() as tmp:
        folder = mutations.build(mutations.by_name("sigmoid-output-multiclass"), Path(tmp))
        start = time.process_time()
        with local.use(folder):
            result = checks.run_local("train", arrays, options)
        cpu = time.process_time() - start
    out = result.outputs
    losses = out.get("losses")
    print(f"lab2check from {Path(lab2check.__file__).parent}")
    print(f"diverged: {'diverged' in out}, losses recorded: {losses.size}, CPU {cpu:.1f} s")
    print(f"loss at epoch 0: {losses[0]:.4f}, epoch 1: {losses[1]:.4f}, last: {losses[-1]:.4f}")
    if "diverged" not in out:
        params = {k.split(".")[-1]: v for k, v in out.items() if k.startswith("trained.")}
        X, Y = np.load(data["X_train"]), np.load(data["Y_train"])
        from grader.submission import trusted_model
        labels = answers_data.test_labels("q3_3", rubric, data)
        accuracy = np.mean(training.predictions("multiclass", data["X_test"], params) == labels)
        loss = trusted_model.loss("multiclass", Y, trusted_model.forward("multiclass", X, params))
        spec = rubric.model("multiclass")
        print(f"grader's loss {loss:.4f} (threshold {spec.max_loss}), accuracy {accuracy:.4f} "
              f"(threshold {spec.min_test_accuracy})")


if __name__ == "__main__":
    sys.exit(main())
