"""The two refusals of the study actions: a researcher's (``StudyError``) and an annotator's (``Refused``)."""

from __future__ import annotations


class StudyError(Exception):
    """A researcher's request the study's state does not allow; the message says what and why."""


class Refused(Exception):
    """An annotator's request that is not allowed; the message is for the annotator."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status
