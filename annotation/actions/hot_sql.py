"""The statements of the annotator's hot path (annotation.actions.answers), the same for PostgreSQL and SQLite.

Every judgment runs a few of them: an answer locks its assignment, reads the items ahead, stores the judgment,
moves the assignment and serves the next item, all in one transaction, and its response carries the next state;
a state request reads the assignment and the items ahead; an image, one row. The current item's image file is
named by what these already read (the study's public id, the study item's id), so sending its bytes with the
state costs no statement more. They are plain SQL because
compiling querysets and building model instances at every request would cost most of the server's CPU per
judgment (tests/annotation passes on either database: TEST_DATABASE_URL=sqlite:////tmp/t.sqlite3).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import psycopg
from django.db import connection

from annotation.models import Annotator, Assignment, AssignmentItem, Judgment, Study, StudyItem


@functools.cache
def statements(vendor: str) -> dict[str, str]:
    """The statements for this database vendor (the lock's clause depends on its features)."""
    names = {
        "assignment": Assignment._meta.db_table,
        "item": AssignmentItem._meta.db_table,
        "study_item": StudyItem._meta.db_table,
        "judgment": Judgment._meta.db_table,
        "study": Study._meta.db_table,
        "annotator": Annotator._meta.db_table,
    }
    assignment = (
        "SELECT a.id, a.stage, a.exposure_ms, a.active_at, a.finished_at, a.answered, s.protocol, n.feedback, "
        "s.public_id "
        "FROM {assignment} a JOIN {study} s ON s.id = a.study_id JOIN {annotator} n ON n.id = a.annotator_id "
        "WHERE a.token = %s"
    )
    columns = "ai.id, ai.token, ai.position, ai.phase, ai.trial, ai.block, ai.exposure_ms, ai.item_id"
    statements = {
        "assignment": assignment,
        # The answer's lock: concurrent answers of one assignment (a double submit) are taken in turn.
        "lock": assignment + (" FOR UPDATE OF a" if connection.features.has_select_for_update_of else ""),
        # Three items from the assignment's count of answers on (the current item, the next, and one more should
        # an answer have come in between), whether each is answered, then the sequence's last item, whose trial
        # and block give the phase's size: a phase is appended whole and answered last (see answers._state). By
        # position, not by looking for unanswered items, which takes longer the further an assignment is.
        "ahead": (
            f"SELECT 0, {columns}, CASE WHEN ai.served_at IS NULL THEN 0 ELSE 1 END, si.truth_real, "
            "(SELECT COUNT(*) FROM {judgment} j WHERE j.assignment_item_id = ai.id) "
            "FROM {item} ai JOIN {study_item} si ON si.id = ai.item_id "
            "WHERE ai.assignment_id = %s AND ai.position BETWEEN %s AND %s "
            f"UNION ALL SELECT 1, last.* FROM (SELECT {columns}, 0, 1 = 0, 0 FROM {{item}} ai "
            "WHERE ai.assignment_id = %s ORDER BY ai.position DESC LIMIT 1) last"
        ),
        "judge": (
            "INSERT INTO {judgment} (assignment_item_id, answer_real, correct, response_ms, feedback_shown, "
            "created_at, viewport_width, viewport_height, device_pixel_ratio, input_kind, refresh_ms, "
            "frames_requested, frames_shown, stimulus_onset_ms, stimulus_offset_ms, mask_onset_ms, mask_offset_ms, "
            "dropped_frames, exposure_shown_ms) "
            f"VALUES ({', '.join(['%s'] * 19)})"
        ),
        "advance": (
            "UPDATE {assignment} SET exposure_ms = %s, active_at = %s, stage = %s, finished_at = %s, answered = %s "
            "WHERE id = %s"
        ),
        # First serve wins: a second tab serving at the same moment must not change the exposure.
        "serve": "UPDATE {item} SET served_at = %s, exposure_ms = %s WHERE id = %s AND served_at IS NULL",
        "served": "SELECT exposure_ms FROM {item} WHERE id = %s",
        "image": (
            "SELECT s.public_id, ai.item_id FROM {item} ai JOIN {study_item} si ON si.id = ai.item_id "
            "JOIN {study} s ON s.id = si.study_id WHERE ai.token = %s AND ai.served_at IS NOT NULL"
        ),
    }
    return {name: statement.format(**names) for name, statement in statements.items()}


# Statements PostgreSQL plans once per connection rather than at every request: planning them takes longer than
# running them. Each finds its rows by a unique key, so the one plan is right whatever the values; "ahead" is
# planned each time, for the values and the tables' sizes.
PREPARED = frozenset({"assignment", "lock", "judge", "advance", "serve", "served", "image"})


def run(cursor: Any, name: str, params: list[Any]) -> Any:
    """Run one of the statements above; returns the cursor that holds its results (``fetchone``, ``rowcount``).

    On PostgreSQL they go through a cursor of their own on the request's connection (its transaction), binding
    the values on the server, and those of PREPARED as the driver's prepared statements: parsed and planned once
    per connection, then one round trip each. Django's cursor binds on the client, quoting every value into the
    text at each request, which cost a tenth of the web process's CPU on this path. A prepared statement lasts
    as long as its connection, rolled back transactions included (a pooler in transaction mode, such as
    PgBouncer's, would need them off). Django's own cursor runs them elsewhere (SQLite keeps a cache of its
    statements by itself)."""
    sql = statements(connection.vendor)[name]
    if connection.vendor != "postgresql":
        cursor.execute(sql, params)
        return cursor
    connection.validate_no_broken_transaction()
    bound = psycopg.Cursor(connection.connection)
    started = time.monotonic()
    with connection.wrap_database_errors:
        bound.execute(sql, params, prepare=name in PREPARED)
    if connection.queries_logged:  # as Django's debug cursor does (DEBUG, or tests counting statements)
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return bound
