"""A tiny raw-socket HTTP/1.1 server that records every request it parses (strictly).

Run as ``python -m tests.support.recording_upstream --port N --log FILE``. Each request read
with :mod:`tests.support.strict_http` is appended to ``FILE`` as one JSON line (method, target,
version, headers, body as latin-1) *before* it is answered ``200`` with a small JSON body;
bytes the strict parser refuses get a ``400`` and the connection is closed (and a line with
``"rejected"``). Keep-alive and pipelining are served in order. Tests read the file: what the
upstream saw, exactly, with no HTTP framework in between.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from tests.support.strict_http import Reject, parse_one


class Recorder:
    def __init__(self, log: Path) -> None:
        self._log = log.open("a", encoding="utf-8")

    def write(self, record: dict[str, object]) -> None:
        self._log.write(json.dumps(record) + "\n")
        self._log.flush()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        try:
            while True:
                try:
                    got = parse_one(buf)
                except Reject as err:
                    self.write({"rejected": str(err), "bytes": buf[:2000].decode("latin-1")})
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n")
                    writer.write(b"Connection: close\r\n\r\n")
                    await writer.drain()
                    return
                if got is None:
                    chunk = await reader.read(65536)
                    if not chunk:
                        return
                    buf += chunk
                    continue
                request, used = got
                buf = buf[used:]
                self.write(
                    {
                        "method": request.method,
                        "target": request.target,
                        "version": request.version,
                        "headers": request.headers,
                        "body": request.body.decode("latin-1"),
                    }
                )
                payload = json.dumps({"target": request.target, "body_len": len(request.body)})
                close = not request.keep_alive
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(payload)}\r\n".encode()
                    + (b"Connection: close\r\n" if close else b"")
                    + b"\r\n"
                    + (payload.encode() if request.method != "HEAD" else b"")
                )
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


async def main(port: int, log: Path) -> None:
    recorder = Recorder(log)
    server = await asyncio.start_server(recorder.serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.log))
