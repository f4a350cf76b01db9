"""The Django app for human visual Turing tests (issue 5)."""
