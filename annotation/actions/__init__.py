"""The writes of the human studies, one module per topic, shared by the annotator's views and API, admin actions,
commands and tasks:

- ``studies``: a researcher's verbs on a study, its pools and attention checks; opening (items built) and closing.
- ``assignments``: an annotator's entry and assignment, and the draws of its sequence.
- ``answers``: the annotator's hot path: state, answer, next item, image file.
- ``hot_sql``: the hot path's SQL statements, prepared on PostgreSQL.
- ``completion``: finishing or withdrawing an assignment, and the way back to the platform.
- ``errors``: ``StudyError`` (a researcher's request refused) and ``Refused`` (an annotator's).
"""
