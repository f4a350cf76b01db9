"""The embedded broker (no Redis): kombu's filesystem transport, each message written under a name no reader takes
and then renamed into the queue. kombu writes a message in place under its final name, so a worker that lists the
folder mid-write reads an empty file, fails to decode it and stops consuming (the demo then waits for ever)."""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        final = os.path.join(self.data_folder_out, f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg")
        # Readers take only names ending in ".<queue>.msg": this one is invisible until the rename.
        partial = final + ".part"
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
