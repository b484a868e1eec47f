"""kombu's ``filesystem://`` transport with a put that no consumer can see half-written.

kombu's own put opens the message's final file name and then writes into it. A worker polling
the folder can take that file (it moves the file away without looking at the writer's lock)
between the open and the write and read it empty: the JSON does not parse, the Celery worker
stops with "Unrecoverable error", and the message is gone with it (celery/kombu#1551). Our CI
met it when four workers and the CLI shared the folder during a backfill, which then waited
forever for the lost page.

Here a message is written under a name no consumer picks (``.part`` after ``.msg``: kombu takes
only names whose part after the first dot is exactly ``<queue>.msg``) and then renamed to its
final name. A rename within one folder is atomic, so a consumer sees the whole message or none.
Everything else (ordering by the millisecond prefix, the take-by-move, the exchange tables) is
kombu's.
"""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

#: Suffix of a message file still being written (never a ``<queue>.msg`` name).
PARTIAL_SUFFIX = ".part"


class Channel(filesystem.Channel):
    # kombu's own _put_fanout passes keyword arguments its base signature does not declare.
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put ``message`` onto ``queue``: write it aside, then rename it into place."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(message)))
            os.replace(partial, final)
        except OSError as exc:
            with suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
