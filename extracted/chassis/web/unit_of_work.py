"""The unit of work: the one place a service opens a transaction, commits it, or rolls it back.

A write runs in ``unit_of_work(sessions)``: committed when the block ends, rolled back when it
raises. A dry run (``dry_run=True``, the request's ``X-Strangler-Dry-Run``) does everything a
write does and is rolled back at the end, so nothing of it persists.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker


@contextmanager
def unit_of_work(sessions: sessionmaker[Session], *, dry_run: bool = False) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error or dry run."""
    with sessions() as session:
        session.begin()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()
