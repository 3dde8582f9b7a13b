#!/usr/bin/env python3
"""gen_campaign.py HEAD SHAPE BYTES OUT: a large campaign for measuring how
`herald validate` scales (bench/validate.sh, tests/valgrind/validate_linear.sh).

HEAD is a campaign file (the sample); OUT is HEAD plus a top-level "bulk:" of
SHAPE, padded to at most BYTES bytes:
  keys     one mapping with many keys (the duplicate-key check),
  anchors  many anchors, each used by an alias (the anchor lookup),
  blocks   many literal block scalars (the block-scalar position lookup),
  quoted   many multi-line double-quoted scalars with escapes,
  waves    many waves in the campaign's waves list (duplicate names).
Lines are long enough that even 4 MB stays under the loader's node limit
(HD_YAML_MAX_NODES, 200,000). Validate refuses OUT with exactly one error,
the unknown key "bulk", after loading all of it.
"""
import sys
head, shape, size, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
text = open(head, encoding="utf-8").read().rstrip("\n") + "\n\nbulk:\n"
parts, aliases, waves, n, i = [text], [], [], len(text.encode()) + 4, 0
pad = "x" * 24
while True:
    i += 1
    if shape == "keys":
        s = f"  key_{i:07d}_{pad}: value number {i:07d} of the bulk mapping\n"
    elif shape == "anchors":
        # every anchor first, then an alias to each in order: an alias far
        # from its anchor is what a linear search from the end pays for
        s = f"  - &anchor_{i:07d}_{pad} [value {i:07d}]\n"
        b = len(s.encode()) + len(f"  - *anchor_{i:07d}_{pad}\n")
        if n + b > size:
            break
        parts.append(s)
        aliases.append(f"  - *anchor_{i:07d}_{pad}\n")
        n += b
        continue
    elif shape == "blocks":
        lines = "".join(f"    line {j} of block {i:07d}: some text, {{{{ name }}}} and more\n"
                        for j in range(8))
        s = f"  block_{i:07d}: |\n{lines}"
    elif shape == "waves":
        # waves go into the campaign's own list (their names are checked
        # for duplicates); the comment pads each line without adding nodes
        s = f"  - name: wave-{i:07d}  # {pad}{pad}{pad}\n"
        b = len(s.encode())
        if n + b > size:
            break
        waves.append(s)
        n += b
        continue
    elif shape == "quoted":
        s = (f'  quoted_{i:07d}: "first line of {i:07d} with an escape \\u00e9 \\t and\n'
             f'    a second line, folded into one \\" quote\n\n    and a third after a blank"\n')
    else:
        raise SystemExit("unknown shape " + shape)
    b = len(s.encode())
    if n + b > size:
        break
    parts.append(s)
    n += b
text = "".join(parts + aliases)
if waves:
    text = text.replace("\nwaves:\n", "\nwaves:\n" + "".join(waves), 1) + "  {}\n"
open(out, "w", encoding="utf-8").write(text)
