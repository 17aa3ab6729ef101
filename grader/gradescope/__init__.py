"""Gradescope's autograder: the bundle (autograder.zip) and what runs in its container."""
