#!/usr/bin/env python3
"""push_campaign.py - the sample campaign adapted for the http-push tests.

usage: push_campaign.py SRC OUT --maildir DIR --settings YAML
                        [--audience FILE] [--concurrency N] [--rate R|none]
                        [--retry "max_attempts: 6, initial_backoff: 1s, max_backoff: 2s"]
                        [--canary-rate X|none]

Copies SRC/campaigns/ai-training-notice.yaml to OUT with absolute paths (the
audience, objections and link key under SRC/campaigns/, locales.dir under
SRC/locales/), the email channel kept on the `file` module into DIR, and the
inapp channel moved to module http-push with the given settings (a YAML
mapping's lines, indented by the script). Waves and the send window are kept
(their dates are past: run with --ignore-send-window). Fails when the sample
no longer has the lines it edits.
"""
import argparse
import re
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--maildir", required=True)
    p.add_argument("--settings", required=True, help="YAML lines of the inapp settings")
    p.add_argument("--audience")
    p.add_argument("--concurrency", default="64")
    p.add_argument("--rate", default="none")
    p.add_argument("--retry")
    p.add_argument("--canary-rate")
    a = p.parse_args()
    sample = f"{a.src}/campaigns/ai-training-notice.yaml"
    text = open(sample, encoding="utf-8").read()

    def sub(pattern, repl):
        nonlocal text
        new, n = re.subn(pattern, lambda m: repl, text, flags=re.M)
        if n != 1:
            sys.exit(f"push_campaign: {pattern!r} matched {n} times in {sample}, not once")
        text = new

    base = f"{a.src}/campaigns"
    sub(r"^  source: .*$", f'  source: "{a.audience or base + "/ai-training-notice/audience.csv"}"')
    sub(r"^    file: .*$", f'    file: "{base}/ai-training-notice/objections.txt"')
    sub(r"^  secret_file: .*$", f'  secret_file: "{base}/ai-training-notice/link.key"')
    sub(r"^  dir: .*$", f'  dir: "{a.src}/locales/ai-training-notice"')
    sub(r"^      maildir: .*$", f'      maildir: "{a.maildir}"')
    settings = "".join(f"      {line}\n" for line in a.settings.strip("\n").split("\n"))
    rate = "" if a.rate == "none" else f"    rate: {a.rate}\n"
    sub(r"^  inapp:\n    type: push\n(?:    .*\n|      .*\n)*",
        f"  inapp:\n    type: push\n    module: http-push\n{rate}"
        f"    concurrency: {a.concurrency}\n    settings:\n{settings}")
    if a.retry:
        body = "".join(f"  {kv.strip()}\n" for kv in a.retry.split(","))
        sub(r"^retry:\n(?:  .*\n)*", f"retry:\n{body}")
    if a.canary_rate == "none":
        sub(r"^canary:\n(?:  .*\n)*", "")
    elif a.canary_rate:
        sub(r"^  failure_rate: .*$", f"  failure_rate: {a.canary_rate}")
    if "../" in text.split("\nchannels:", 1)[1]:
        sys.exit("push_campaign: a channel still writes outside the test's directory")
    open(a.out, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    main()
