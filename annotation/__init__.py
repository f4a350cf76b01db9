"""The Django app for human visual Turing tests."""
