"""Run probes in this process against one ``lab2`` folder at a time.

Used for trusted code (the reference and the catalogue's variants, in the grader) and for the
student's own code in the kit's pytest suite. ``use(folder)`` makes ``import lab2`` resolve to
``folder/lab2`` for the duration of a ``with`` block.
"""
import contextlib
import sys


def _forget_lab2():
    for name in [n for n in sys.modules if n == "lab2" or n.startswith("lab2.")]:
        del sys.modules[name]


@contextlib.contextmanager
def use(folder):
    """``import lab2`` gives ``<folder>/lab2`` inside the block; the previous state comes back after."""
    saved = {n: m for n, m in sys.modules.items() if n == "lab2" or n.startswith("lab2.")}
    _forget_lab2()
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        _forget_lab2()
        sys.modules.update(saved)
