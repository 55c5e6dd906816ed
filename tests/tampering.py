"""Submissions that tamper with grading, one per kind, for any chapter.

Each kind is code a student could put in an answer cell so that the checks
pass without a right answer. ``tamper(kind, chapter)`` returns the cell
source and :func:`tampered` puts it in a submission, at the second exercise
(so the first exercise must keep its marks while every exercise from there on
scores zero).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat

from conftest import ROOT
from vae_course.grading.screen import graded_names


@dataclass(frozen=True)
class Chapter:
    """The names a chapter's test cells use."""

    module: str  # "ch01"
    exercises: list[str]  # exercise names in notebook order: "bce_loss", ...
    checks: list[str]  # the check each test cell calls first: "check_bce_loss", ...

    @property
    def check(self) -> str:
        """The check of the second exercise, the one the tampering targets."""
        return self.checks[1]


def chapter(assignment: str) -> Chapter:
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    protected, owners = graded_names(source)
    (module,) = protected
    order = [c.metadata["nbgrader"]["grade_id"] for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")]
    tests = [c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    checks = [re.search(rf"{module}\.(\w+)\(", test).group(1) for test in tests]
    return Chapter(module, sorted(owners, key=lambda name: order.index(owners[name])), checks)


PASS = "lambda *args, **kwargs: None"

# What the issue lists: the chapter's checks and their module, the grading helpers,
# the package's reference functions and the libraries the checks use, the exercise
# names the test cells call, and builtins.
KINDS = {
    "check function": lambda c: f"{c.module}.{c.check} = {PASS}",
    "check module": lambda c: (
        "class AlwaysPasses:\n    def __getattr__(self, name):\n        return lambda *args, **kwargs: None\n\n"
        f"{c.module} = AlwaysPasses()"
    ),
    "grading helpers": lambda c: f"from vae_course import checks\nchecks.check_function = {PASS}\nchecks.expect = {PASS}",
    "reference function": lambda c: "import vae_course.metrics\nvae_course.metrics.frechet_distance = lambda *args: 0.0",
    "library": lambda c: "import numpy\nnumpy.allclose = lambda *args, **kwargs: True",
    "exercise name": lambda c: f"{c.exercises[1]} = {PASS}",
    "builtins": lambda c: "import builtins\nbuiltins.isinstance = lambda obj, kind: True",
}
# Ways around a screen that only looked for the kinds above.
EVASIONS = {
    "shadowed builtin": lambda c: "AssertionError = Warning",
    "kernel hook": lambda c: "get_ipython().showtraceback = lambda *args, **kwargs: None",
    "hidden code": lambda c: f'exec("{c.module}.{c.check} = {PASS}")',
    "dynamic import": lambda c: f'mod = __import__("vae_course.exercises.{c.module}", fromlist=["x"])',
    "module table": lambda c: f'import sys\nsys.modules["vae_course.exercises.{c.module}"] = None',
    "alias": lambda c: f"m = {c.module}\nm.{c.check} = {PASS}",
    "frames": lambda c: "import inspect\ninspect.currentframe().f_back.f_globals.clear()",
    "function code": lambda c: f"{c.module}.{c.check}.__code__ = (lambda *args, **kwargs: None).__code__",
    "setattr": lambda c: f'setattr({c.module}, "{c.check}", {PASS})',
    "globals": lambda c: f'globals()["{c.module}"] = None',
    "file write": lambda c: 'open("gradebook.db", "w").write("")',
    "subprocess": lambda c: 'import subprocess\nsubprocess.run(["rm", "-f", "gradebook.db"])',
    "cell magic": lambda c: "%%capture\nraise SystemExit",
    "shell": lambda c: "!rm -f gradebook.db",
}
# Honest code that must pass the screen: imports, helpers, prints, plots, classes and magics.
HONEST = [
    "import numpy as np\nfrom scipy import stats\nimport torch\nfrom torch import nn",
    "def helper(x):\n    total = 0\n    for value in x:\n        total += value\n    return total\n\nprint(helper([1, 2]))",
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nax.set_title('t')\nplt.show()",
    "%matplotlib inline\n%timeit sum(range(10))",
    "class Layer:\n    def __init__(self, seed):\n        self.seed = seed\n        setattr(self, 'name', 'sampling')\n\n    def call(self, x):\n        return x",
    "from IPython.display import display\nimport keras\nfrom keras import ops\nmodel = keras.Sequential()\nmodel.trainable = False",
    "with open('notes.txt') as f:\n    text = f.read()\nlines = text.splitlines()",
    "import os\npath = os.path.join('a', 'b')\nx = {'a': 1}\nx['b'] = 2",
]


def tampered(student_version: nbformat.NotebookNode, answers: dict[str, str], code: str, kind: str) -> nbformat.NotebookNode:
    """The solution, with ``code`` at the top of the second answer cell (or, for an exercise name
    rebound after its answer, in a cell the student added just before that exercise's test cell)."""
    from grading import answered

    answer_ids = [c.metadata["nbgrader"]["grade_id"] for c in student_version.cells if c.metadata.get("nbgrader", {}).get("solution")]
    second = answer_ids[1]
    if kind != "exercise name":
        return answered(student_version, {**answers, second: code + "\n\n" + answers[second]})
    notebook = answered(student_version, answers)
    test = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == f"{second}_tests")
    notebook.cells.insert(test, nbformat.v4.new_code_cell(code))
    return notebook
