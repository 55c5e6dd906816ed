"""nbgrader configuration for the course (read from the repository root).

Instructors run every nbgrader command from this folder. The instructor
sources are in solutions/, the student release in chapters/; each chapter is
one assignment named after its folder (01_autoencoders, ...).
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - provided by nbgrader

ROOT = Path(__file__).resolve().parent

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "chapters"
c.CourseDirectory.course_id = "vae_course"

# Seconds a single cell may run during autograding (nbgrader's default is 30,
# too short for a cell that trains a model on a slow machine).
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True

# What the student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograde runs each submission screened for tampering, with its own model
# cache, under a memory limit and with the course's files guarded
# (vae_course/grading/preprocessors.py); nbgrader's other steps are unchanged.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

from vae_course.grading.preprocessors import GuardedExecute  # noqa: E402

c.Autograde.autograde_preprocessors = [
    GuardedExecute if step is Execute else step for step in Autograde.class_traits()["autograde_preprocessors"].default()
]

# Grades never depend on how long a model trained, nor on figures, so
# `nbgrader autograde` runs the notebooks under the fast `ci` run profile,
# draws no figures (Matplotlib's Agg backend: about 2 s less per submission)
# and keeps TensorFlow's C++ log lines out of the feedback, unless these
# variables are set. (Only for autograde: JupyterLab sessions keep theirs.)
if "autograde" in sys.argv[1:2]:
    os.environ.setdefault("VAE_COURSE_PROFILE", "ci")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
