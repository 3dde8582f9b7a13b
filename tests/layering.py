#!/usr/bin/env python3
"""The house rules the compiler cannot check (docs/design.md, "Who may call what").

  1. LMDB (mdb_*, MDB_*, <lmdb.h>) only in core/ledger/: the ledger and the
     store own delivery state. (Tests may read the store they check.)
  2. A capability of core/ includes only public headers ("herald/x.h") of
     itself and of the capabilities below it, and private headers only from
     its own folder; never a path with "..".
  3. core/ never includes a channel module's headers (channels/<module>/).
  4. Nothing outside cmd/ includes cmd/'s headers.
  5. A channel module includes no private header of core or of another
     module: only public headers, its own and the channels library's.

Usage: layering.py SOURCE_DIR      check the tree; exit 1 with one line per breach
       layering.py --self-test SRC plant one breach of each rule in a copy of
                                   the tree and check that each is caught
"""
import os
import re
import shutil
import sys
import tempfile

# Bottom to top; each may use those before it (core/CMakeLists.txt).
ORDER = ["base", "metrics", "audience", "campaign", "feedback", "ledger", "render", "proofs", "report", "plan", "dispatch"]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
LMDB = re.compile(r"\b(mdb_[a-z_]+|MDB_[A-Z_]+)\b|<lmdb\.h>")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def sources(root, top):
    base = os.path.join(root, top)
    for folder, _, files in os.walk(base):
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                yield os.path.join(folder, name)


def public_headers(root):
    """herald/x.h -> the capability that owns it (core) or 'channels'."""
    owner = {}
    for cap in ORDER:
        inc = os.path.join(root, "core", cap, "include", "herald")
        for name in os.listdir(inc) if os.path.isdir(inc) else []:
            owner["herald/" + name] = cap
    inc = os.path.join(root, "channels", "include", "herald")
    for name in os.listdir(inc) if os.path.isdir(inc) else []:
        owner.setdefault("herald/" + name, "channels")
    return owner


def check(root):
    breaches = []
    owner = public_headers(root)

    def rel(path):
        return os.path.relpath(path, root)

    def text_of(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    for top in ["core", "channels", "cmd", "tests", "bench"]:
        for path in sources(root, top):
            r = rel(path)
            text = text_of(path)
            code = COMMENT.sub(" ", text)
            parts = r.split(os.sep)
            in_ledger = parts[:2] == ["core", "ledger"]
            # Tests may look into the store they check, and the shims interpose LMDB itself.
            if LMDB.search(code) and not in_ledger and top != "tests":
                word = LMDB.search(code).group(0)
                breaches.append(f"{r}: uses LMDB ({word}) outside core/ledger/: go through the ledger")
            for m in INCLUDE.finditer(code):
                kind, name = m.group(1), m.group(2)
                line = text.count("\n", 0, m.start()) + 1
                where = f"{r}:{line}"
                if kind == "<":
                    continue
                if os.path.basename(name) == "cmd.h" and top != "cmd":
                    breaches.append(f"{where}: includes cmd/'s header {name}: only cmd/ may")
                    continue
                if top == "core":
                    cap = parts[1]
                    if ".." in name.split("/"):
                        breaches.append(f"{where}: includes {name} by a relative path: "
                                        "use a public header (herald/x.h)")
                    elif name.startswith("herald/"):
                        if name not in owner:
                            breaches.append(f"{where}: includes {name}, not a public header of core")
                        elif owner[name] == "channels":
                            if cap != "dispatch":
                                breaches.append(f"{where}: includes {name} (the channel interface): "
                                                "only dispatch may")
                        elif cap in ORDER and ORDER.index(owner[name]) > ORDER.index(cap):
                            breaches.append(f"{where}: {cap} includes {name} of {owner[name]}, "
                                            "a capability above it")
                    elif not os.path.exists(os.path.join(os.path.dirname(path), name)):
                        breaches.append(f"{where}: includes {name}, not a header of {cap}")
                elif top == "channels":
                    module = parts[1] if len(parts) > 2 else None
                    if ".." in name.split("/"):
                        breaches.append(f"{where}: includes {name} by a relative path: "
                                        "a module uses public headers and its own")
                    elif not name.startswith("herald/") and not any(
                            os.path.exists(os.path.join(d, name)) for d in
                            (os.path.dirname(path), os.path.join(root, *parts[:2]),
                             os.path.join(root, "channels"))):
                        breaches.append(f"{where}: includes {name}, not a header of "
                                        f"{module or 'channels'}")
                elif top == "cmd" and ".." in name.split("/"):
                    breaches.append(f"{where}: includes {name} by a relative path: "
                                    "use the library's public headers")
    return breaches


def self_test(root):
    """Each rule, broken once in a copy, must be reported."""
    plants = [
        ("core/render/render.c", "#include <lmdb.h>\n", "uses LMDB"),
        ("cmd/cmd_link.c", "static void f(void) { mdb_txn_abort(0); }\n", "uses LMDB"),
        ("core/audience/audience.c", '#include "herald/render.h"\n', "a capability above it"),
        ("core/render/render.c", '#include "../proofs/proof_internal.h"\n', "relative path"),
        ("core/plan/plan.c", '#include "proof_internal.h"\n', "not a header of plan"),
        ("core/plan/plan.c", '#include "smtp/smtp_chan.h"\n', "not a header of plan"),
        ("core/render/mime.c", '#include "herald/channel.h"\n', "a capability above it"),
        ("channels/null/null.c", '#include "../../cmd/cmd.h"\n', "cmd/'s header"),
        ("channels/null/null.c", '#include "smtp_chan.h"\n', "not a header of null"),
        ("tests/unit/test_store.c", '#include "cmd.h"\n', "cmd/'s header"),
        ("bench/proofs_synth.c", "static int x = MDB_APPEND;\n", "uses LMDB"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for top in ["core", "channels", "cmd", "tests", "bench"]:
            shutil.copytree(os.path.join(root, top), os.path.join(tmp, top),
                            ignore=shutil.ignore_patterns("corpus", "__pycache__"))
        already = set(check(tmp))
        for rel, line, expect in plants:
            path = os.path.join(tmp, rel)
            with open(path, encoding="utf-8") as f:
                before = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(line + before)
            found = [b for b in check(tmp)
                     if b not in already and b.startswith(rel) and expect in b]
            with open(path, "w", encoding="utf-8") as f:
                f.write(before)
            if not found:
                print(f"self-test: {line.strip()!r} in {rel} was not caught ({expect!r})")
                failures += 1
    print(f"self-test: {len(plants) - failures} of {len(plants)} planted breaches caught")
    return 1 if failures else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(argv[2])
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 64
    breaches = check(argv[1])
    for b in breaches:
        print(b)
    if not breaches:
        print("layering: every rule holds")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
