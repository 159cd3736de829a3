"""Write failures made real for tests, without root or a small filesystem."""

from __future__ import annotations

import contextlib
import resource
from typing import Iterator


@contextlib.contextmanager
def file_size_limit(nbytes: int) -> Iterator[None]:
    """While open, the kernel refuses to grow any file of this process past ``nbytes``
    (``EFBIG``; Python ignores the SIGXFSZ that comes with it), just as a full disk refuses
    with ``ENOSPC``: each library fails in its own write path, as it would on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
