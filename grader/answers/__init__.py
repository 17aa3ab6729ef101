"""The answer key: the reference's answers to every case, the catalogue's variants, train requests."""
