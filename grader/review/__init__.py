"""The review app: grade the written (manual) questions of a batch's output in a browser.

``python -m grader review OUT`` (``main``) builds the class's view before serving (``grading.Review``:
``answers`` reads each student's REPORT.md section and groups equal answers, ``suggest`` finds
equivalent ones with math-verify), then serves ``app`` (Flask) on 127.0.0.1 with a token.
Grades live in ``gradebook`` (``OUT/gradebook.sqlite``); answers are drawn by ``render``
(Markdown and MathML, whitelisted); ``export`` merges the grades into the batch's outputs
exactly as ``batch --manual`` does. Rubric items: ``rubric_items.yaml`` (``grader.rubric``).
"""
