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

# Grades never depend on how long a model trained, so `nbgrader autograde`
# runs the notebooks under the fast `ci` run profile unless VAE_COURSE_PROFILE
# is set. (Only for autograde: JupyterLab sessions keep the student's profile.)
if "autograde" in sys.argv[1:2]:
    os.environ.setdefault("VAE_COURSE_PROFILE", "ci")
