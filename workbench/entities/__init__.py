"""Entities in narratives: places, armed actors, weapons and dates, in English and Arabic, linked.

``lexicon`` reads the actor, weapon and country lexicons of ``data_contracts/entities``;
``patterns`` turns them, the gazetteer and the month names into ruler patterns; ``pipeline``
builds the rule-based spaCy pipelines (and runs a statistical model beside them when one is
installed); ``extract`` turns processed texts into linked mentions; ``run`` extracts over the
store (the ``mentions`` table and the ``narrative_place_contradiction`` findings); ``pii`` finds
names next to victim and witness words for the personal-data screening. Nothing is re-exported
here, so that importing one module (``workbench.entities.evaluate``) does not load spaCy.
"""
