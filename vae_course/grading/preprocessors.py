"""``GuardedExecute``: nbgrader's Execute step, made safe to run on a class's submissions.

``nbgrader_config.py`` puts it in place of ``Execute`` in ``nbgrader autograde``.
For each submitted notebook it

1. screens the cells the student wrote (:mod:`vae_course.grading.screen`) and
   runs nothing from the first tampering cell on: every test cell from there
   scores zero with a ``GradingIntegrityError`` that says what was found, the
   submission is flagged in the gradebook and the autograde log names the
   student;
2. runs the kernel with its own model cache (a copy of ``cache_template`` when
   one is given), so that no submission can change what another one loads;
3. runs the kernel under an address-space limit (``memory_limit_gib``), so a
   cell that allocates too much fails with ``MemoryError`` instead of taking
   the machine down;
4. checks that the course's own files (the checks, the package, the source
   notebook) are unchanged afterwards; if a submission changed them they are
   restored, and the submission scores zero and is flagged.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from traitlets import Float, Unicode

from vae_course.grading.sandbox import FileGuard, model_cache
from vae_course.grading.screen import Finding, screen

INTEGRITY_ERROR = "GradingIntegrityError"
FLAG_PREFIX = "Grading integrity"  # starts every log line about a refused submission
DIED_PREFIX = "Kernel died"  # starts every log line about a kernel that died during grading


def error_output(message: str, ename: str = INTEGRITY_ERROR) -> NotebookNode:
    """An error output: nbgrader scores a test cell that holds one zero, and the feedback shows the message."""
    return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def zero_tests(cells: list[NotebookNode], message: str, ename: str = INTEGRITY_ERROR) -> None:
    """Give every test cell among ``cells`` an error output with ``message``, so that nbgrader scores it zero."""
    for cell in cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs.append(error_output(message, ename))


def limited_kernel_manager(limit_bytes: int) -> type[AsyncKernelManager]:
    """A kernel manager whose kernels start under an address-space limit of ``limit_bytes`` (Unix only)."""

    class LimitedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            command = super().format_kernel_cmd(extra_arguments)
            return [sys.executable, "-m", "vae_course.grading.limit", str(limit_bytes), *command]

    return LimitedKernelManager


class GuardedExecute(Execute):
    """Execute a submission screened, with its own model cache, a memory limit and the course's files guarded."""

    cache_template = Unicode(
        "", help="A model cache copied for each submission (the grade command warms one); empty: each starts empty."
    ).tag(config=True)
    memory_limit_gib = Float(8.0, help="Address-space limit of each grading kernel in GiB (0: none).").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.memory_limit_gib > 0 and os.name == "posix":
            self.kernel_manager_class = limited_kernel_manager(int(self.memory_limit_gib * 2**30))
        self._sources: dict[Path, NotebookNode] = {}
        self._guard: FileGuard | None = None
        self._running = 0  # index of the cell being executed

    # --- what the instructor wrote ------------------------------------------------------------
    def _source_path(self, assignment: str, notebook: str) -> Path:
        coursedir = CourseDirectory(config=self.config)
        return Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / f"{notebook}.ipynb"

    def _source(self, path: Path) -> NotebookNode:
        # Read once per process, before any submission of this process has run.
        if path not in self._sources:
            self._sources[path] = nbformat.read(path, as_version=4)
        return self._sources[path]

    def _file_guard(self, source: Path) -> FileGuard:
        if self._guard is None:
            import vae_course

            self._guard = FileGuard([Path(vae_course.__file__).parent], [source])
        return self._guard

    # --- the run ------------------------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        source_path = self._source_path(info["assignment"], info["notebook"])
        source = self._source(source_path)
        guard = self._file_guard(source_path)
        findings = screen(nb, source)
        stop = min((f.cell for f in findings), default=len(nb.cells))
        cells = list(nb.cells)
        nb.cells = cells[:stop]
        try:
            with tempfile.TemporaryDirectory(prefix="vae_course_grading_cache_") as cache, model_cache(cache):
                if self.cache_template:
                    shutil.copytree(self.cache_template, cache, dirs_exist_ok=True)
                try:
                    nb, resources = super().preprocess(nb, resources)
                except DeadKernelError:
                    self._after_death(nb, info)
        finally:
            nb.cells = list(nb.cells) + cells[stop:]
            changed = guard.restore()
        if findings:
            self._refuse_from(nb, stop, findings)
            self._report(info, [str(f) for f in findings] + [f"nothing from cell {stop} on was run"])
        if changed:
            message = (
                f"this submission changed the course's own files ({', '.join(changed)}); they were restored, "
                "and no exercise of this submission is graded."
            )
            zero_tests(nb.cells, message)
            self._report(info, [message])
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        self._running = index
        return super().preprocess_cell(cell, resources, index)

    def _after_death(self, nb: NotebookNode, info: dict) -> None:
        """The kernel died in cell ``self._running``: tests before it keep their results, later ones score zero."""
        died = self._running
        nb.cells[died].outputs.append(error_output(
            "the kernel died while this cell ran (os._exit, a crash inside a library, or the memory limit); "
            "nothing after it was run.", ename="DeadKernelError",
        ))
        zero_tests(nb.cells[died + 1:], f"not graded: the kernel died in cell {died}, before this test ran.", "DeadKernelError")
        self.log.warning("%s: student %r, %s/%s: in cell %d", DIED_PREFIX, info["student"], info["assignment"], info["notebook"], died)

    def _refuse_from(self, nb: NotebookNode, stop: int, findings: list[Finding]) -> None:
        """Explain the refusal in the first tampering cell and zero every test cell from it on."""
        first = [f for f in findings if f.cell == stop]
        nb.cells[stop].outputs = [error_output(
            "this cell changes what grading relies on, so it was not run, nor anything after it:\n"
            + "\n".join(f"  - line {f.line}: {f.what}" for f in first)
        )]
        for cell in nb.cells[stop + 1:]:
            if cell.cell_type == "code":
                cell.outputs = []
        zero_tests(nb.cells[stop + 1:], f"not graded: {first[0]}. That cell tampers with grading, so nothing from it on was run.")

    def _report(self, info: dict, lines: list[str]) -> None:
        """A warning line in the autograde log, and the submission flagged for the instructor."""
        self.log.warning(
            "%s: student %r, %s/%s: %s", FLAG_PREFIX, info["student"], info["assignment"], info["notebook"], "; ".join(lines)
        )
        with Gradebook(info["db_url"]) as gradebook:
            try:
                notebook = gradebook.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            except MissingEntry:
                return
            notebook.flagged = True
            gradebook.db.commit()
