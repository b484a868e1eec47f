"""PostgreSQL: every statement that inserts outbox rows sends ``NOTIFY strangler_outbox`` so the
relay (``sync/relay.py``) wakes at the commit instead of polling. Nothing on SQLite (the relay
polls there): the trigger is created only when the migration runs on PostgreSQL."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from monolith.outbox.notify import CHANNEL

# Statement level: a bulk insert of 10,000 events sends one notification, not 10,000. PostgreSQL
# delivers it when the transaction commits (never for a rolled-back one) and folds identical
# notifications of one transaction into one.
CREATE = f"""
CREATE OR REPLACE FUNCTION outbox_notify_pending() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER outbox_notify_pending
    AFTER INSERT ON outbox_outboxevent
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify_pending();
"""

DROP = """
DROP TRIGGER IF EXISTS outbox_notify_pending ON outbox_outboxevent;
DROP FUNCTION IF EXISTS outbox_notify_pending();
"""


def _on_postgresql(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("outbox", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
