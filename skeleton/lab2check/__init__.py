"""Checks for Lab 2, shared by the grader and the students' own pytest suite.

Nothing here knows the solution: expected values come from outside (the grader's reference
cache, or the kit's fixture files). ``probes`` call a ``lab2`` implementation, ``plain`` turns
what it returned into plain numeric arrays, ``compare`` runs the check ladder and writes the
messages, ``mistakes`` names the known mistakes. Depends on numpy only.
"""
