"""The declarations: every fact about the tables, fields, vocabularies, metrics and phrase rules, read
from ``schemas/`` into typed models (:mod:`.models`), loaded and cached once per schemas directory
(:mod:`.load`), and rendered as the data dictionary (:mod:`.dictionary`)."""

from opsledger.declarations.load import *  # noqa: F401,F403
from opsledger.declarations.load import _tables  # noqa: F401
from opsledger.declarations.dictionary import data_dictionary  # noqa: F401
