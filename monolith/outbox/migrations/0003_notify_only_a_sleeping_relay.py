"""PostgreSQL: the outbox trigger notifies only while a relay sleeps on the channel.

Why: a transaction that sends NOTIFY takes a database-wide lock at commit (PostgreSQL's
``PreCommit_Notify``), so every write of the monolith that recorded an event committed one after
another, and each commit also woke the relay for a batch of one or two events. Now a relay that
goes to sleep registers itself (its listening backend's pid) in ``outbox_relay_sleepers``; the
trigger notifies only when some relay is registered. A relay that is awake polls instead, and
registers itself again only after a while without events (``sync/relay.py``).

No wake-up is lost: the trigger reads the registration ``FOR KEY SHARE``, which a relay going to
sleep waits for (``SELECT ... FOR UPDATE``), so a write that saw no sleeper commits before the
relay's registration does, and the relay's pass right after registering finds it. A registered
pid whose backend is gone (a relay killed while asleep) only makes writers notify for nothing;
the next relay to sleep drops it.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from monolith.outbox.notify import CHANNEL, SLEEPERS_TABLE

CREATE = f"""
CREATE TABLE {SLEEPERS_TABLE} (
    id smallint PRIMARY KEY CHECK (id = 1),
    pids integer[] NOT NULL DEFAULT '{{}}'
);
INSERT INTO {SLEEPERS_TABLE} (id) VALUES (1);
CREATE OR REPLACE FUNCTION outbox_notify_pending() RETURNS trigger AS $$
DECLARE
    sleeping integer[];
BEGIN
    SELECT pids INTO sleeping FROM {SLEEPERS_TABLE} WHERE id = 1 FOR KEY SHARE;
    -- No registration row at all: notify, as before this migration.
    IF sleeping IS NULL OR cardinality(sleeping) > 0 THEN
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

# Back to 0002's trigger function: notify at every insert.
DROP = f"""
CREATE OR REPLACE FUNCTION outbox_notify_pending() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TABLE IF EXISTS {SLEEPERS_TABLE};
"""


def _on_postgresql(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("outbox", "0002_notify_on_insert")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
