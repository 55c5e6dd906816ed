"""What keeps one graded submission from changing another: guarded files, a private model cache."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterable, Iterator

from vae_course.cache import CACHE_ENV_VAR, cache_dir
from vae_course.data import DATA_ENV_VAR


class FileGuard:
    """The bytes of every ``*.py`` file under ``folders`` and of each of ``files``, as they were when created."""

    def __init__(self, folders: Iterable[Path], files: Iterable[Path] = ()) -> None:
        paths = [p for folder in folders for p in sorted(Path(folder).rglob("*.py"))] + [Path(f) for f in files]
        self.saved = {path: path.read_bytes() for path in paths}

    def changed(self) -> list[str]:
        """The guarded files that are now missing or different."""
        return [str(path) for path, data in self.saved.items() if not path.is_file() or path.read_bytes() != data]

    def restore(self) -> list[str]:
        """Write back every changed file; return the ones that had changed."""
        changed = self.changed()
        for name in changed:
            path = Path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.saved[path])
        return changed


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by kernels started meanwhile), and put them back afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def model_cache(folder: Path | str) -> contextlib.AbstractContextManager[None]:
    """Kernels started in this context cache models in ``folder``; datasets keep coming from the usual place."""
    values = {CACHE_ENV_VAR: str(folder)}
    shared_data = cache_dir() / "data"
    if not os.environ.get(DATA_ENV_VAR) and shared_data.is_dir():
        values[DATA_ENV_VAR] = str(shared_data)
    return environment(**values)
