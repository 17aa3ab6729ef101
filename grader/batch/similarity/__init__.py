"""Code similarity across a class: exact fingerprints and near-duplicate scores."""
