"""Grading an nbgrader class safely: screening submissions, guarded autograding, grading in parallel."""
