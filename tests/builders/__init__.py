"""What the tests build at test time: archives, classes, corpora, mailboxes, hostile inputs.

Test code only (the grader never imports it). ``tests/`` is on ``sys.path`` (the rootdir's
``conftest.py``), so a test imports a builder as ``from builders import archives``; a child
process that needs one (a batch worker, a ``-p builders.toy_question`` plugin) gets ``tests/``
on its ``PYTHONPATH``.
"""
