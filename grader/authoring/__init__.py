"""Maintainer tools: the skeleton, the kit's fixtures, the reference trainings."""
