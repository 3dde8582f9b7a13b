#!/usr/bin/env python3
"""smtp_server.py - a capturing SMTP server for Herald's SMTP tests, on
aiosmtpd (python3-aiosmtpd), listening on 127.0.0.1 on a free port.

Every accepted message is stored byte for byte (as received, dot-unstuffed)
in a Maildir, as new/<time>.<key>_1[_<n>].smtpcap where <key> is the
Message-ID's part before "@" (the name verify_outputs.py expects), and
every event is one JSON line in --log:
  {"ev": "session", "n": N, "peer": ...}          a connection
  {"ev": "accepted", "rcpt": ..., "msgid": ..., "qid": ..., "file": ..., "session": N}
  {"ev": "rejected", "stage": "RCPT"|"DATA", "code": 550|554, "rcpt": ...}
  {"ev": "greylisted", "rcpt": ...}                 450 at RCPT
  {"ev": "452", "rcpt": ...}                        452 at RCPT
  {"ev": "421", "session": N, "after": K}           421 and close, at MAIL
  {"ev": "dropped", "rcpt": ...}                   connection closed during DATA
  {"ev": "stalled", "rcpt": ...}                   no reply after DATA
  {"ev": "auth", "user": ..., "ok": bool}

usage:
  smtp_server.py --maildir DIR --log FILE --port-file FILE [fault options]

Faults (any combination; "mod M" picks recipients by sha256(rcpt) % M, so
the same people are hit on every attempt):
  --greylist             450 at the first RCPT of each recipient, then accept
  --reject-rcpt-mod M    550 5.1.1 at RCPT when sha256(rcpt) % M == 0
  --reject-data-mod M    554 5.7.1 after DATA when sha256(rcpt) % M == 1
  --rcpt-452-every N     every Nth RCPT (server-wide): 452 4.3.1 (insufficient storage)
  --close-after N        in every session, 421 at the MAIL after N accepted
                         messages, then close the connection
  --drop-data-every N    every Nth DATA (server-wide): close the connection
                         after the body, before replying (nothing stored)
  --stall-data-every N   every Nth DATA: no reply for --stall-seconds (nothing
                         stored), so the client times out
  --stall-seconds S      (default 30)
  --echo-rcpt            rejections name the recipient, as Postfix does
                         ("550 5.1.1 <a@b>: Recipient address rejected: ...")
  --tls-cert F --tls-key F   offer STARTTLS with this certificate
  --require-tls          refuse MAIL before STARTTLS (530)
  --auth USER:PASSWORD   require AUTH (PLAIN/LOGIN, over TLS only)
  --no-pipelining        do not announce PIPELINING
  --debug                aiosmtpd's protocol log on stderr
Prints nothing; writes the port to --port-file once listening. SIGTERM stops.
"""
import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import sys
import time

from asyncio import sslproto

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, TLSSetupException

MSGID_RX = re.compile(rb"^Message-ID:\s*<([^@>\s]+)@", re.I | re.M)


def bucket(rcpt, mod):
    return int.from_bytes(hashlib.sha256(rcpt.lower().encode()).digest()[:8], "big") % mod


class Server(SMTP):
    """aiosmtpd's SMTP with one fix (see also maximum_version in main). aiosmtpd 1.4.3 awaits the drain of its
    "220 Ready to start TLS" before it switches the connection to TLS; a fast
    client's ClientHello can arrive in between, and is then discarded as
    "leftover unencrypted data", so the handshake hangs until the client
    times out. Here the 220 is written and the protocol switched without
    yielding to the event loop."""

    async def smtp_STARTTLS(self, arg):
        if arg or not self.tls_context:
            return await super().smtp_STARTTLS(arg)
        self._writer.write(b"220 Ready to start TLS\r\n")
        waiter = self.loop.create_future()
        self._tls_protocol = sslproto.SSLProtocol(self.loop, self, self.tls_context, waiter,
                                                  server_side=True)
        self._original_transport = self.transport
        self._original_transport.set_protocol(self._tls_protocol)
        self.transport = self._tls_protocol._app_transport
        self._tls_protocol.connection_made(self._original_transport)
        try:
            await waiter
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise TLSSetupException() from error


class Capture:
    def __init__(self, a):
        self.a = a
        self.log = open(a.log, "a", buffering=1, encoding="utf-8")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(a.maildir, sub), exist_ok=True)
        self.greylisted = set()
        self.sessions = 0
        self.datas = 0
        self.rcpts = 0
        self.qid = 0
        self.names = set()

    def event(self, **kw):
        self.log.write(json.dumps(kw, sort_keys=True) + "\n")

    # -- hooks (aiosmtpd calls handle_<VERB>) --

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not hasattr(session, "herald_n"):
            self.sessions += 1
            session.herald_n = self.sessions
            session.herald_ok = 0
            self.event(ev="session", n=session.herald_n, peer=str(session.peer))
        if not self.a.no_pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        n = getattr(session, "herald_n", 0)
        ok = getattr(session, "herald_ok", 0)
        if self.a.require_tls and session.ssl is None:
            return "530 5.7.0 Must issue a STARTTLS command first"
        if self.a.close_after and ok >= self.a.close_after:
            self.event(ev="421", session=n, after=ok)
            server.transport.write(b"421 4.3.2 Too many messages in this session, closing\r\n")
            server.transport.close()
            return "421 4.3.2 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.a.greylist and address not in self.greylisted:
            self.greylisted.add(address)
            self.event(ev="greylisted", rcpt=address)
            return "450 4.2.0 Greylisted, please try again later"
        self.rcpts += 1
        if self.a.rcpt_452_every and self.rcpts % self.a.rcpt_452_every == 0:
            self.event(ev="452", rcpt=address)
            return "452 4.3.1 Insufficient system storage"
        if self.a.reject_rcpt_mod and bucket(address, self.a.reject_rcpt_mod) == 0:
            self.event(ev="rejected", stage="RCPT", code=550, rcpt=address)
            if self.a.echo_rcpt:
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        self.datas += 1
        if self.a.drop_data_every and self.datas % self.a.drop_data_every == 0:
            self.event(ev="dropped", rcpt=rcpt)
            server.transport.close()
            return "421 4.4.2 dropped"  # never reaches the client
        if self.a.stall_data_every and self.datas % self.a.stall_data_every == 0:
            self.event(ev="stalled", rcpt=rcpt)
            await asyncio.sleep(self.a.stall_seconds)
            return "451 4.4.2 stalled"
        if self.a.reject_data_mod and bucket(rcpt, self.a.reject_data_mod) == 1:
            self.event(ev="rejected", stage="DATA", code=554, rcpt=rcpt)
            if self.a.echo_rcpt:
                return f"554 5.7.1 <{rcpt}>: Message content rejected"
            return "554 5.7.1 Message content rejected"
        data = envelope.original_content
        m = MSGID_RX.search(data.split(b"\r\n\r\n", 1)[0])
        key = m.group(1).decode("ascii", "replace") if m else "nokey"
        now = int(time.time())
        name = f"{now}.{key}_1.smtpcap"
        k = 1
        while name in self.names:
            k += 1
            name = f"{now}.{key}_1_{k}.smtpcap"
        self.names.add(name)
        tmp = os.path.join(self.a.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.a.maildir, "new", name))
        self.qid += 1
        qid = f"HQ{self.qid:08X}"
        session.herald_ok = getattr(session, "herald_ok", 0) + 1
        self.event(ev="accepted", rcpt=rcpt, mail_from=envelope.mail_from,
                   rcpts=len(envelope.rcpt_tos), msgid=key, qid=qid, file=name,
                   session=getattr(session, "herald_n", 0),
                   tls=session.ssl is not None, auth=bool(session.authenticated))
        return f"250 2.0.0 Ok: queued as {qid}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--greylist", action="store_true")
    ap.add_argument("--reject-rcpt-mod", type=int, default=0)
    ap.add_argument("--reject-data-mod", type=int, default=0)
    ap.add_argument("--rcpt-452-every", type=int, default=0)
    ap.add_argument("--close-after", type=int, default=0)
    ap.add_argument("--drop-data-every", type=int, default=0)
    ap.add_argument("--stall-data-every", type=int, default=0)
    ap.add_argument("--stall-seconds", type=float, default=30)
    ap.add_argument("--echo-rcpt", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--require-tls", action="store_true")
    ap.add_argument("--auth")
    ap.add_argument("--no-pipelining", action="store_true")
    ap.add_argument("--debug", action="store_true", help="aiosmtpd's protocol log on stderr")
    a = ap.parse_args()
    if a.debug:
        import logging
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(message)s")

    handler = Capture(a)
    tls = None
    if a.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
        # TLS 1.2 at most: with 1.3, a client's first command can arrive in
        # the same read as its Finished message, and asyncio's sslproto (as
        # aiosmtpd 1.4.3 drives it) leaves it undelivered until more data
        # comes, so the session hangs until the client times out.
        tls.maximum_version = ssl.TLSVersion.TLSv1_2
    authenticator = None
    if a.auth:
        user, _, password = a.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and \
                auth_data.login.decode() == user and auth_data.password.decode() == password
            handler.event(ev="auth", user=auth_data.login.decode()
                          if isinstance(auth_data, LoginPassword) else None, ok=ok)
            return AuthResult(success=ok, handled=False)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return Server(handler, hostname="capture.test", tls_context=tls,
                    require_starttls=False, auth_required=bool(a.auth),
                    auth_require_tls=True, authenticator=authenticator,
                    data_size_limit=10 * 1024 * 1024, loop=loop)

    server = loop.run_until_complete(
        loop.create_server(factory, host="127.0.0.1", port=0, family=socket.AF_INET))
    port = server.sockets[0].getsockname()[1]
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.rename(tmp, a.port_file)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        handler.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
