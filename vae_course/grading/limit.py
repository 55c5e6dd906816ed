"""Start a command under an address-space limit: ``python -m vae_course.grading.limit BYTES COMMAND...``.

Grading kernels start this way, so a cell that allocates more memory than the
limit gets a ``MemoryError`` in that cell instead of exhausting the machine
that grades the rest of the class.
"""

from __future__ import annotations

import os
import resource
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not argv[0].isdigit():
        sys.exit("usage: python -m vae_course.grading.limit BYTES COMMAND [ARGS...]")
    limit = int(argv[0])
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError) as error:  # macOS refuses RLIMIT_AS: say so in the grading log, and go on
        print(f"vae_course.grading.limit: no memory limit on this system ({error})", file=sys.stderr, flush=True)
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
