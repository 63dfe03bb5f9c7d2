"""Linkage: the same person and the same incident, reported by several NGOs, found as one.

``names`` and ``clk`` are the NGO-side half: names normalised across Arabic and Latin script and
turned into keyed encodings (exact pseudonyms and Bloom-filter CLKs) that can be compared without
the names. Nothing is re-exported here: ``clk`` is both a module and its main function, and the
modules beside it are imported by name (``from workbench.linkage.clk import dice_sql``).
"""
