"""Checks of the auto-graded exercises, one module per chapter (``ch01``, ...)."""
