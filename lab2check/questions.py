"""The lab's questions, in one place: the registry every other module reads.

Each ``Question`` says, for one question id of the contract (``q1_1`` ... ``q3_3``, ``report``):
the ``lab2`` module it is about, its kind, the functions it checks, its check groups and their
weights (the share of the question's automatic points each group gets), how its unit cases are
built (``lab2check.cases``), what a training question trains, and which questions' loss and
forward pass its gradient check differentiates. ``MODULES`` describes the three ``lab2``
modules themselves (how many outputs, one layer or two, where their loss lives).

Adding a question is one entry here plus its case builder in ``lab2check/cases.py`` (and its
points in ``rubric.yaml``): the grader, the renderers, the kit's fixtures and its test list all
read this registry when they run (never a copy taken at import), so a test can register a toy
question by patching ``QUESTIONS``.

What this module is not: points, titles, learning rates and thresholds are the rubric's
(``rubric.yaml``, read by the grader only); hidden seeds are the rubric's too. This file ships in
the student kit (``make skeleton`` copies ``lab2check/``), so it holds nothing hidden and imports
nothing but the kit's own modules.

Vocabulary: a *module* is a file of the student's ``lab2`` package (``single_neuron``,
``hidden_layer``, ``multiclass``); a *model* is what a training question trains, named as in the
rubric's ``training.models`` (the three modules' networks, and ``bonus``: the hidden-layer
network for another digit).
"""
from dataclasses import dataclass, field
from typing import Callable, Literal

from lab2check import cases as c

Kind = Literal["unit", "training", "manual", "report"]


@dataclass(frozen=True)
class Module:
    """One ``lab2`` module as the checks see it."""
    name: str
    outputs: int          # output units: 1 (a probability) or 10 (a softmax over the digits)
    layers: int           # 1: forward(X, W, b), train(X, y, W, b); 2: a params dict W1, b1, W2, b2
    loss_module: str      # the module whose ``loss`` its training and backward use


MODULES = {m.name: m for m in (
    Module("single_neuron", outputs=1, layers=1, loss_module="single_neuron"),
    Module("hidden_layer", outputs=1, layers=2, loss_module="single_neuron"),  # its loss is single_neuron's
    Module("multiclass", outputs=10, layers=2, loss_module="multiclass"),
)}


@dataclass(frozen=True)
class Training:
    """What a training question trains: 500 epochs of the student's ``train`` on the grading data."""
    model: str            # the rubric's training.models key (lr, max_loss, min_test_accuracy)
    target: Literal["digit", "bonus_digit", "labels"]  # the rubric's data.digit or data.bonus_digit
    #                       against the others, or the 10 labels one-hot
    cost: float           # relative CPU time of the training, to balance the grader's two children
    reported: bool = True  # REPORT.md's loss_500 block holds this model, and its loss curve is drawn
    title: str = ""       # the loss-curve panel's title


@dataclass(frozen=True)
class Question:
    id: str
    kind: Kind            # unit (unit checks only), training (a training, maybe unit checks too: predict),
    #                       manual (graded by hand only), report (REPORT.md's loss_500 block)
    module: str | None = None
    functions: tuple[str, ...] = ()
    weights: dict = field(default_factory=dict)   # check group -> share of the automatic points
    # (question, seed, label, hidden, one) -> [Case]: the cases of one seed; ``one`` is 1 where the
    # case should have a single example (the second public seed), else None.
    cases: Callable | None = None
    # (question, seed=None) -> [Case]: the fixed public edge cases, or (a hidden seed) edge cases of
    # the same kinds drawn from it
    edge_cases: Callable | None = None
    training: Training | None = None
    differentiates: tuple[tuple[str, str], ...] = ()  # (question, check) of the loss and forward
    #                                                   its gradient check differentiates
    figure: bool = False  # a manual question about a figure: the teacher is told where it seems to be

    @property
    def modules(self) -> tuple[str, ...]:
        """The ``lab2`` modules the question's code needs: its own and the one holding its loss."""
        if self.module is None:
            return ()
        return tuple(dict.fromkeys((self.module, MODULES[self.module].loss_module)))


_TRAINING_CHECKS = {"trajectory": 1, "final_loss": 1, "accuracy": 1}
_NETWORK_CHECKS = {"init_params": 1, "forward": 1, "backward": 2, "gradcheck": 1, "update": 1}

QUESTIONS: dict[str, Question] = {q.id: q for q in (
    Question("q1_1", "unit", "single_neuron", ("sigmoid",), {"sigmoid": 1}, c.sigmoid, c.sigmoid_edges),
    Question("q1_2", "unit", "single_neuron", ("forward",), {"forward": 1}, c.forward1),
    Question("q1_3", "unit", "single_neuron", ("loss",), {"loss": 1}, c.loss1, c.loss1_edges),
    Question("q1_4", "unit", "single_neuron", ("gradients",), {"gradients": 2, "gradcheck": 1}, c.gradients1,
             differentiates=(("q1_3", "loss"), ("q1_2", "forward"))),
    Question("q1_5", "training", "single_neuron", ("train", "predict"), {"predict": 1, **_TRAINING_CHECKS},
             c.predict1, training=Training("single_neuron", "digit", cost=1, title="single neuron (digit 0)")),
    Question("q2_1", "unit", "hidden_layer", ("init_params", "forward", "backward", "update"), _NETWORK_CHECKS,
             c.network, differentiates=(("q1_3", "loss"), ("q2_1", "forward"))),
    Question("q2_2", "training", "hidden_layer", ("train", "predict"), {"predict": 1, **_TRAINING_CHECKS},
             c.predict2, training=Training("hidden_layer", "digit", cost=3, title="hidden layer (digit 0)")),
    Question("q2_3", "training", "hidden_layer", ("train",), dict(_TRAINING_CHECKS),
             training=Training("bonus", "bonus_digit", cost=3, reported=False)),
    Question("q3_1", "manual", figure=True),
    Question("q3_2", "unit", "multiclass", ("one_hot", "softmax", "loss"), {"one_hot": 1, "softmax": 2, "loss": 1},
             c.one_hot_softmax_loss, c.softmax_loss_edges),
    Question("q3_3", "training", "multiclass", ("init_params", "forward", "backward", "update", "train", "predict"),
             {**_NETWORK_CHECKS, "predict": 1, **_TRAINING_CHECKS}, c.network_and_predict,
             training=Training("multiclass", "labels", cost=4, title="multiclass (10 digits)"),
             differentiates=(("q3_2", "loss"), ("q3_3", "forward"))),
    Question("report", "report", weights={"loss_500": 1}),
)}

# What the unit checks of one submission cost, in the units of ``Training.cost``: about a second
# in all, about the single neuron's training.
UNIT_CHECKS_COST = 1.0


def ids() -> tuple[str, ...]:
    """Every question id, in the contract's order."""
    return tuple(QUESTIONS)


def get(qid: str) -> Question:
    return QUESTIONS[qid]


def unit_questions() -> tuple[str, ...]:
    """The questions with unit checks (public and hidden cases), in order."""
    return tuple(q.id for q in QUESTIONS.values() if q.cases is not None)


def training_questions() -> tuple[str, ...]:
    """The questions that train a model, in order."""
    return tuple(q.id for q in QUESTIONS.values() if q.training is not None)


def models() -> tuple[str, ...]:
    """Every model a training question trains: the rubric's ``training.models`` keys."""
    return tuple(dict.fromkeys(q.training.model for q in QUESTIONS.values() if q.training))


def reported_models() -> dict[str, str]:
    """``{model: question}`` for the models of REPORT.md's loss_500 block and of the loss curves."""
    return {q.training.model: q.id for q in QUESTIONS.values() if q.training and q.training.reported}


def modules() -> tuple[str, ...]:
    """The ``lab2`` modules the questions are about (``data.py`` is given, never graded)."""
    return tuple(dict.fromkeys(q.module for q in QUESTIONS.values() if q.module))
