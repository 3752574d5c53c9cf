#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for Vigil's integration tests, run by vigil_peers::smtp.

Usage: smtp_sink.py --port N [--host 127.0.0.1]

Stdout carries one JSON object per line, each flushed at once:
  {"event": "ready", "port": N}                      once the server accepts connections
  {"event": "mail", "mail_from": ..., "rcpt_tos": [...], "subject": ..., "message_id": ...,
   "from": ..., "to": ..., "text": ..., "html": ..., "headers": [[name, value], ...]}
                                                      per message accepted after DATA
  {"event": "rejected", "stage": "mail"|"rcpt"|"data", "code": C, "argument": ...}
                                                      per command refused by fault injection
  {"event": "ack", "seq": S}                          once a control command has taken effect

Stdin takes control commands, one a line:
  reject STAGE CODE SEQ    answer CODE at STAGE (mail, rcpt or data) from now on
  accept SEQ               stop rejecting
The server exits when stdin closes, so it never outlives the test that started it.
"""

import argparse
import email
import email.policy
import json
import sys
import threading

try:
    from aiosmtpd.controller import Controller
except ImportError:
    sys.stderr.write("smtp_sink.py needs aiosmtpd: pip install aiosmtpd\n")
    sys.exit(3)

STAGES = ("mail", "rcpt", "data")
REASONS = {4: "Try again later (injected)", 5: "Refused (injected)"}

_out_lock = threading.Lock()


def emit(obj):
    """Writes one JSON line; the SMTP thread and the control thread both call this."""
    line = json.dumps(obj, ensure_ascii=False)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def body_text(msg, subtype):
    """The decoded text/<subtype> part (transfer encoding and charset undone, line ends as
    "\n" rather than SMTP's "\r\n"), or None."""
    part = msg.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        text = part.get_content()
    except (LookupError, ValueError):
        text = part.get_payload(decode=True).decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n")


class Sink:
    """aiosmtpd handler: records messages, refuses commands while a fault is set."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reject = None  # (stage, code)

    def _refusal(self, stage, argument):
        with self.lock:
            reject = self.reject
        if reject is None or reject[0] != stage:
            return None
        code = reject[1]
        emit({"event": "rejected", "stage": stage, "code": code, "argument": argument})
        return "%d %s" % (code, REASONS.get(code // 100, "Refused (injected)"))

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        refusal = self._refusal("mail", address)
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self._refusal("rcpt", address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refusal = self._refusal("data", envelope.mail_from)
        if refusal:
            return refusal
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", errors="surrogateescape")
        msg = email.message_from_bytes(content, policy=email.policy.default)
        emit(
            {
                "event": "mail",
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "subject": msg.get("Subject"),
                "message_id": msg.get("Message-ID"),
                "from": msg.get("From"),
                "to": msg.get("To"),
                "text": body_text(msg, "plain"),
                "html": body_text(msg, "html"),
                "headers": [[k, str(v)] for k, v in msg.items()],
            }
        )
        return "250 OK: queued"


def control(sink):
    """Applies stdin commands until stdin closes."""
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "reject" and len(words) == 4 and words[1] in STAGES:
            with sink.lock:
                sink.reject = (words[1], int(words[2]))
            emit({"event": "ack", "seq": int(words[3])})
        elif words[0] == "accept" and len(words) == 2:
            with sink.lock:
                sink.reject = None
            emit({"event": "ack", "seq": int(words[1])})
        else:
            sys.stderr.write("smtp_sink.py: unknown command %r\n" % line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    sink = Sink()
    # SMTPUTF8 so that non-ASCII addresses and headers from the service are taken, not refused.
    controller = Controller(sink, hostname=args.host, port=args.port, enable_SMTPUTF8=True)
    try:
        controller.start()
    except Exception as err:  # noqa: BLE001 - aiosmtpd reports a taken port in more than one way
        sys.stderr.write("smtp_sink.py: cannot listen on %s:%d: %s\n" % (args.host, args.port, err))
        sys.exit(2)
    emit({"event": "ready", "port": args.port})
    try:
        control(sink)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
