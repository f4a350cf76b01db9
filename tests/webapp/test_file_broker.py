"""The embedded broker: a message is under a name its readers take only once it is whole. kombu's own filesystem
transport writes in place under the final name, so a worker listing the folder mid-write reads a truncated message
and its consumer dies (the demo then waited for ever)."""

from __future__ import annotations

import json
import threading

from kombu import Connection

MESSAGES = 20
PAYLOAD = "x" * 8_000_000  # long enough that writing one takes milliseconds: the window a reader falls into


def _torn_reads(transport: str, folder) -> tuple[int, int]:
    """(messages seen whole, messages seen torn) by a reader listing the queue as fast as it can while they are
    written."""
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "processed_folder": str(folder)}
    done = threading.Event()

    def produce() -> None:
        with Connection("filesystem://localhost//", transport=transport, transport_options=options) as conn:
            queue = conn.SimpleQueue("q")
            for i in range(MESSAGES):
                queue.put({"i": i, "payload": PAYLOAD})
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    whole, torn = set(), 0
    while not done.is_set():
        for path in folder.iterdir():
            if not path.name.endswith(".q.msg") or path.name in whole:
                continue
            try:
                json.loads(path.read_bytes())
            except ValueError:
                torn += 1
            else:
                whole.add(path.name)
    producer.join()
    return len(whole), torn


def test_a_reader_never_sees_a_message_half_written(tmp_path):
    # With transport "filesystem" (kombu's own) the same reader sees torn messages on every run tried.
    whole, torn = _torn_reads("webapp.file_broker:Transport", tmp_path)
    assert torn == 0
    assert whole >= 1
