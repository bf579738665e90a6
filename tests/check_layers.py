#!/usr/bin/env python3
"""Checks the layering rule of the source tree by reading #include lines.

The rule (docs/architecture.md, "Layers"): a file includes headers of its
own folder or of a lower layer, never of a higher one, and never of
another folder of the same layer:

    util < model < config < formats, net < pipeline
         < plugins (collectors/, exporters/) < daemon root < status < main.c

A header that is not in the tree (a system header, or one generated into
the build tree such as status_page_html.h) is not checked.

    check_layers.py [ROOT]    checks the tree at ROOT (default: ..)
    check_layers.py --self-test
                              builds a small tree with a wrong-way include
                              in a temporary folder and checks that it is
                              refused, so this check cannot pass by seeing
                              nothing.
Prints one line per wrong include ("file:line: ...") and exits 1 if any.
"""
import os
import re
import sys
import tempfile

# Folder -> rank.  Folders of the same rank may not include each other.
LAYERS = {
    "daemon/util": 0,
    "daemon/model": 1,
    "daemon/config": 2,
    "daemon/formats": 3,
    "daemon/net": 3,
    "daemon/pipeline": 4,
    "collectors": 5,
    "exporters": 5,
    "daemon": 6,
    "daemon/status": 7,
}
# The program's entry point wires every layer together.
TOP = {"daemon/main.c"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(path):
    return os.path.dirname(path)


def check(root):
    """Returns the list of complaints for the tree at root."""
    complaints = []
    checked = 0
    for folder in LAYERS:
        full = os.path.join(root, folder)
        if not os.path.isdir(full):
            complaints.append(f"{folder}: missing folder")
            continue
        for name in sorted(os.listdir(full)):
            if not name.endswith((".c", ".h")):
                continue
            rel = f"{folder}/{name}"
            if rel in TOP:
                continue
            checked += 1
            rank = LAYERS[folder]
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    if not os.path.isfile(os.path.join(root, target)):
                        continue  # generated or system: not ours to rank
                    tfolder = folder_of(target)
                    if tfolder == folder:
                        continue
                    trank = LAYERS.get(tfolder)
                    if trank is None:
                        complaints.append(
                            f"{rel}:{lineno}: includes {target}, which is "
                            "in no layer")
                    elif trank > rank:
                        complaints.append(
                            f"{rel}:{lineno}: includes {target}: {folder} "
                            f"(layer {rank}) may not see {tfolder} "
                            f"(layer {trank}, above it)")
                    elif trank == rank:
                        complaints.append(
                            f"{rel}:{lineno}: includes {target}: {folder} "
                            f"and {tfolder} are beside each other (layer "
                            f"{rank}); one may not see the other")
    if checked == 0:
        complaints.append(f"{root}: no source file found")
    return complaints


def self_test():
    with tempfile.TemporaryDirectory() as root:
        for folder in LAYERS:
            os.makedirs(os.path.join(root, folder), exist_ok=True)

        def write(path, text):
            with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                f.write(text)

        write("daemon/util/buf.h", "#include <stddef.h>\n")
        write("daemon/pipeline/sink.h", '#include "daemon/util/buf.h"\n')
        write("daemon/net/httpd.h", '#include "daemon/util/buf.h"\n')
        write("daemon/daemon.h", '#include "daemon/pipeline/sink.h"\n')
        good = check(root)
        if good:
            print("self-test: a well-layered tree was refused:", good)
            return 1
        # Each of these must be refused.
        bad = {
            "daemon/util/log.c": '#include "daemon/pipeline/sink.h"\n',
            "daemon/formats/csv.c": '#include "daemon/net/httpd.h"\n',
            "exporters/x.c": '#include "daemon/daemon.h"\n',
        }
        for path, text in bad.items():
            write(path, text)
            found = [c for c in check(root) if c.startswith(path + ":")]
            if len(found) != 1:
                print(f"self-test: {path} with {text.strip()} gave {found}")
                return 1
            os.remove(os.path.join(root, path))
    print("self-test: ok")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..")
    complaints = check(root)
    for c in complaints:
        print(c)
    return 1 if complaints else 0


if __name__ == "__main__":
    sys.exit(main())
