"""Screen a submitted notebook for code that tampers with grading, before any of it runs.

The test cells of a chapter call ``chNN.check_<name>(<name>)`` in the
student's kernel, so code a student writes runs in the same interpreter as the
checks. Instead of trying to defend the interpreter from the inside, the
autograder reads every cell the student wrote or changed (as text, outside
the kernel) and refuses those that reach for what grading relies on:

- the names the test cells use (the chapter's check module, or an exercise's
  name rebound outside its own answer cell);
- the grading code itself (``vae_course.exercises``, ``vae_course.checks``,
  nbgrader) or any imported module's attributes (monkeypatching ``np.allclose``,
  the package's reference functions, ...);
- builtins, the interpreter's internals (``sys.modules``, frames, ``gc``,
  ``ctypes``, ``__globals__``, ...) and the IPython kernel (``get_ipython``);
- code hidden from this reading (``exec``, ``eval``, ``__import__``,
  ``globals()``, ``setattr``, unpickling, ...), other processes and file writes.

Honest answers (imports of libraries, helper functions, classes that set
attributes on ``self``, prints, plots, ``%matplotlib``/``%timeit``) pass.
:mod:`vae_course.grading.preprocessors` turns the findings into grades.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import Iterable, Iterator

from nbformat import NotebookNode

# Modules an answer never needs and grading can be tampered with through (a prefix matches submodules).
FORBIDDEN_MODULES = {
    "vae_course.exercises": "imports the chapter's checks",
    "vae_course.checks": "imports the grading helpers",
    "vae_course.grading": "imports the grading code",
    "nbgrader": "imports nbgrader",
    "builtins": "imports builtins",
    "__builtin__": "imports builtins",
    "gc": "reaches other objects through the garbage collector",
    "ctypes": "reaches into the interpreter's memory",
    "inspect": "inspects the grading code's frames",
    "importlib": "imports modules dynamically",
    "types": "builds code objects",
    "pickle": "unpickles code",
    "marshal": "loads code objects",
    "dill": "unpickles code",
    "cloudpickle": "unpickles code",
    "runpy": "runs code hidden from the screen",
    "code": "runs code hidden from the screen",
    "codeop": "compiles code hidden from the screen",
    "unittest.mock": "monkeypatches with mock",
    "mock": "monkeypatches with mock",
    "IPython": "changes the notebook kernel",
    "ipykernel": "changes the notebook kernel",
    "jupyter_client": "talks to the kernel",
    "signal": "changes signal handling (the grader's time limit)",
    "subprocess": "starts other processes",
    "multiprocessing": "starts other processes",
    "threading": "starts threads that outlive the cell",
    "_thread": "starts threads that outlive the cell",
    "pty": "starts other processes",
    "shutil": "copies or deletes files",
    "sqlite3": "opens a database (the gradebook)",
    "sqlalchemy": "opens a database (the gradebook)",
    "site": "changes the import system",
}
# Submodules of the course package an answer may not import either (``from vae_course import checks``).
FORBIDDEN_PACKAGE_NAMES = {"exercises", "checks", "grading"}
FORBIDDEN_CALLS = {
    "exec": "runs code hidden from the screen (exec)",
    "eval": "runs code hidden from the screen (eval)",
    "compile": "compiles code hidden from the screen",
    "__import__": "imports modules dynamically (__import__)",
    "globals": "rewrites names through globals()",
    "vars": "rewrites names through vars()",
    "locals": "rewrites names through locals()",
    "delattr": "deletes attributes by name (delattr)",
    "breakpoint": "opens a debugger",
    "get_ipython": "changes the notebook kernel (get_ipython)",
}
# Attributes that lead from an ordinary object to the code, frames or namespaces behind it.
INTERNAL_ATTRIBUTES = {
    "__builtins__", "__globals__", "__code__", "__closure__", "__dict__", "__class__", "__bases__", "__mro__",
    "__subclasses__", "__defaults__", "__kwdefaults__", "__func__", "__self__", "__wrapped__", "__setattr__",
    "__delattr__", "__getattribute__", "__import__", "__loader__", "__spec__", "__traceback__",
    "f_globals", "f_locals", "f_back", "f_builtins", "f_code", "gi_frame", "cr_frame", "tb_frame", "tb_next",
}
SYS_ATTRIBUTES = {
    "modules", "_getframe", "settrace", "setprofile", "excepthook", "displayhook", "meta_path", "path_hooks",
    "path_importer_cache", "addaudithook", "stdout", "stderr", "path", "exc_info", "exception", "last_value",
}
OS_ATTRIBUTES = {
    "system", "popen", "fork", "forkpty", "kill", "killpg", "remove", "unlink", "rmdir", "removedirs", "rename",
    "renames", "replace", "chmod", "chown", "truncate", "putenv", "unsetenv", "open", "write",
    "dup2", "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle",
    "spawnv", "spawnve", "spawnlp", "spawnlpe", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp",
}
FILE_WRITING_METHODS = {"write_text", "write_bytes", "unlink", "rmdir", "chmod", "symlink_to", "hardlink_to", "touch"}
# Builtins the checks and nbgrader's grading rely on; an answer cell that rebinds one at its top level is refused.
PROTECTED_BUILTINS = {
    name for name in dir(builtins) if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException)
} | {
    "print", "isinstance", "issubclass", "type", "callable", "hasattr", "getattr", "setattr", "len", "float", "int",
    "bool", "str", "repr", "abs", "all", "any", "range", "round", "object", "super", "open", "__import__",
    "__build_class__",
}
# IPython magics an answer may use: they change nothing the grading relies on.
HARMLESS_MAGICS = {"matplotlib", "time", "timeit", "who", "whos"}


@dataclass(frozen=True)
class Finding:
    """One piece of tampering: where it is and what it does."""

    cell: int  # index of the cell in the notebook
    grade_id: str | None  # the nbgrader id of that cell, when it has one
    line: int
    what: str

    def __str__(self) -> str:
        where = f"cell {self.cell}" + (f" ({self.grade_id})" if self.grade_id else " (a cell you added or changed)")
        return f"{where}, line {self.line}: {self.what}"


def _nbgrader(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _python(source: str) -> str:
    """The cell's source as plain Python: IPython magics and ``!`` commands become ``get_ipython()`` calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _bound_names(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Names a cell binds at its top level (assignments, defs, classes, imports, loops, ``with ... as``)."""
    for node in _top_level(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node.lineno
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield (alias.asname or alias.name).split(".")[0], node.lineno
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            yield node.id, node.lineno


def _top_level(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` outside function and class bodies (their names included, their bodies not)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) and node is not tree:
            stack.extend(node.decorator_list if not isinstance(node, ast.Lambda) else [])
            continue
        stack.extend(ast.iter_child_nodes(node))


def _root(node: ast.AST) -> ast.AST:
    """The object an attribute chain or subscript starts from: ``np`` for ``np.random.seed``."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


def _module_name(node: ast.AST) -> str | None:
    """``a.b.c`` for an attribute chain of plain names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _forbidden_module(name: str) -> str | None:
    if name == "IPython.display" or name.startswith("IPython.display."):
        return None  # display() and friends only show things
    for module, why in FORBIDDEN_MODULES.items():
        if name == module or name.startswith(module + "."):
            return why
    return None


def _write_mode(call: ast.Call) -> bool:
    """Whether an ``open(...)`` call may write: a mode that is not a read-only literal."""
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and not set("wax+") & set(mode.value))


class _CellScreen(ast.NodeVisitor):
    """Collect what one cell does to grading; ``imported`` and ``protected`` are names from the whole notebook."""

    def __init__(self, imported: set[str], protected: set[str]) -> None:
        self.imported = set(imported)  # names bound to imported modules or objects (np, nn, keras, ch01, ...)
        self.protected = protected
        self.found: list[tuple[int, str]] = []

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 1), what))

    # --- imports ------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            why = _forbidden_module(alias.name)
            if why:
                self.flag(node, f"{why} (import {alias.name})")
            self.imported.add((alias.asname or alias.name).split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        why = _forbidden_module(module)
        if why:
            self.flag(node, f"{why} (from {module} import ...)")
        for alias in node.names:
            full = f"{module}.{alias.name}"
            why = _forbidden_module(full) or (
                "imports the grading code" if module == "vae_course" and alias.name in FORBIDDEN_PACKAGE_NAMES else None
            )
            if why:
                self.flag(node, f"{why} (from {module} import {alias.name})")
            self.imported.add(alias.asname or alias.name)

    # --- names and attributes -----------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.flag(node, "uses __builtins__")
        elif node.id in FORBIDDEN_CALLS:
            self.flag(node, FORBIDDEN_CALLS[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = _module_name(node)
        if node.attr in INTERNAL_ATTRIBUTES:
            self.flag(node, f"reaches into the interpreter's internals (.{node.attr})")
        elif name and name.split(".")[0] == "sys" and node.attr in SYS_ATTRIBUTES and name.count(".") == 1:
            self.flag(node, f"changes the interpreter through {name}")
        elif name and name.split(".")[0] == "os" and node.attr in OS_ATTRIBUTES and name.count(".") == 1:
            self.flag(node, f"runs commands or changes files through {name}")
        elif name and _forbidden_module(name):
            self.flag(node, f"{_forbidden_module(name)} ({name})")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            root = _root(node)
            if isinstance(root, ast.Name) and root.id in self.imported | self.protected:
                self.flag(node, f"monkeypatches {name or root.id + '...'}: it changes an imported module or object")
            elif isinstance(root, ast.Call) and not (isinstance(root.func, ast.Name) and root.func.id == "super"):
                self.flag(node, "sets an attribute on an object fetched by a call (a hidden monkeypatch)")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        # ``m = np`` or ``f = np.testing``: the new name is an alias of an imported module (track monkeypatching through it).
        root = _root(node.value)
        if isinstance(node.value, (ast.Name, ast.Attribute)) and isinstance(root, ast.Name) and root.id in self.imported | self.protected:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.imported.add(target.id)
        self.generic_visit(node)

    # --- calls --------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id == "setattr" and not (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "self"):
                self.flag(node, "sets attributes by name (setattr) on something other than self")
            elif func.id == "open" and _write_mode(node):
                self.flag(node, "writes files (open with a writing mode)")
        elif isinstance(func, ast.Attribute):
            if func.attr in FILE_WRITING_METHODS:
                self.flag(node, f"writes or deletes files (.{func.attr})")
            elif _is_get_ipython(func.value):
                magic = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                if func.attr == "run_line_magic" and magic in HARMLESS_MAGICS:
                    return  # ``%matplotlib inline`` and friends; skip the get_ipython() inside
                self.flag(node, f"changes the notebook kernel (get_ipython().{func.attr}"
                          + (f" %{magic}" if magic else "") + ")")
                return
        self.generic_visit(node)


def _is_get_ipython(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython"


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_python(source))
    except SyntaxError:
        return None  # the cell fails when it runs; nothing in it can execute


def _trusted_sources(source: NotebookNode) -> set[str]:
    """The code cells of the instructor's notebook other than the answer cells: run as written."""
    return {cell.source for cell in source.cells if cell.cell_type == "code" and not _nbgrader(cell).get("solution")}


def graded_names(source: NotebookNode) -> tuple[set[str], dict[str, str]]:
    """What the test cells rely on: names bound by the instructor's cells (``ch01``, ...) and exercise names.

    Returns ``(protected, owners)``: ``protected`` are names the test cells use that the instructor's code
    binds; ``owners`` maps each exercise name a test cell checks to the grade id of its answer cell.
    """
    protected: set[str] = set()
    owners: dict[str, str] = {}
    bound_by_instructor: set[str] = set()
    answer_names: dict[str, set[str]] = {}
    last_answer = None
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        info = _nbgrader(cell)
        tree = _parse(cell.source)
        if tree is None:
            continue
        bound = {name for name, _ in _bound_names(tree)}
        if info.get("solution"):
            last_answer = info.get("grade_id")
            answer_names[last_answer] = bound
            continue
        if info.get("grade"):
            used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            for name in used:
                if last_answer and name in answer_names.get(last_answer, set()):
                    owners[name] = last_answer
                elif name in bound_by_instructor:
                    protected.add(name)
        bound_by_instructor |= bound
    return protected, owners


def _student_cells(submitted: NotebookNode, trusted: set[str]) -> Iterable[tuple[int, NotebookNode]]:
    for index, cell in enumerate(submitted.cells):
        if cell.cell_type == "code" and cell.source not in trusted:
            yield index, cell


def screen(submitted: NotebookNode, source: NotebookNode) -> list[Finding]:
    """Every piece of tampering in the cells of ``submitted`` that differ from the instructor's ``source``."""
    trusted = _trusted_sources(source)
    protected, owners = graded_names(source)
    imported = set(protected)
    for cell in source.cells:
        tree = _parse(cell.source) if cell.cell_type == "code" else None
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
    findings = []
    for index, cell in _student_cells(submitted, trusted):
        tree = _parse(cell.source)
        if tree is None:
            continue
        grade_id = _nbgrader(cell).get("grade_id")
        visitor = _CellScreen(imported, protected)
        visitor.visit(tree)
        found = list(visitor.found)
        for name, line in _bound_names(tree):
            if name in protected:
                found.append((line, f"rebinds {name}, which the test cells use"))
            elif name in owners and owners[name] != grade_id:
                found.append((line, f"rebinds {name} outside its answer cell ({owners[name]}), after which a test cell checks it"))
            elif name in PROTECTED_BUILTINS:
                found.append((line, f"shadows the builtin {name}"))
        findings += [Finding(index, grade_id, line, what) for line, what in sorted(set(found))]
    return findings
