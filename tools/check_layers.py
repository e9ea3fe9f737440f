#!/usr/bin/env python3
"""Checks the include graph of gilstat's C++ sources against its layers (docs/ARCHITECTURE.md).

Every quoted include names its folder ("probes/semlock_probe.h", "gilstat/result.h"); a file
includes only from its own layer and the layers below it. Exits 1 and prints file:line and the
reason for every violation. Usage: check_layers.py [REPO_ROOT]
"""
import pathlib
import re
import sys

# Include prefix -> layer. A lower number is lower in the house.
PREFIX_LAYERS = [
    ("gilstat/rt/", 1, "runtime"),
    ("gilstat/", 0, "common"),
    ("bpf/", 1, "bpf"),
    ("elf/", 2, "elf"),
    ("probes/", 3, "probes"),
    ("python/", 3, "python"),
    ("metrics/", 4, "metrics"),
    ("profile/", 4, "profile"),
    ("config/", 5, "config"),
    ("tracker/", 5, "tracker"),
    ("host/", 5, "host"),
    ("web/", 5, "web"),
    ("app/", 5, "app"),
    ("cli/", 5, "cli"),
    ("tests/", 7, "tests"),
]

# Source folder -> (layer, name). The most specific prefix wins.
FOLDER_LAYERS = [
    ("common/", 0, "common"),
    ("runtime/", 1, "runtime"),
    ("bpf/", 1, "bpf"),
    ("daemon/elf/", 2, "elf"),
    ("daemon/probes/", 3, "probes"),
    ("daemon/python/", 3, "python"),
    ("metrics/", 4, "metrics"),
    ("daemon/profile/", 4, "profile"),
    ("daemon/config/", 5, "config"),
    ("daemon/tracker/", 5, "tracker"),
    ("daemon/host/", 5, "host"),
    ("daemon/web/", 5, "web"),
    ("daemon/app/", 5, "app"),
    ("daemon/cli/", 5, "cli"),
    ("daemon/", 6, "main"),
    ("tests/", 7, "tests"),
    ("bench/", 7, "bench"),
    ("tools/", 7, "tools"),
]

# Layers whose files may include from the same layer's other folders only where listed:
# metrics adapts plain structs (common, runtime) and includes nothing from daemon/.
ALLOWED = {
    "metrics": {"common", "runtime", "metrics"},
    # profile formats plain structs (gilstat/gil_stacks.h) like metrics.
    "profile": {"common", "profile"},
    "common": {"common"},
    "runtime": {"common", "runtime"},
    "bpf": {"common", "bpf"},
    "elf": {"common", "elf"},
    "tracker": {"common", "tracker"},
    "web": {"common", "web"},
    # config takes the probes' map-size defaults from their one definition (bpf/semlock.h) and
    # compiles the targets into the tracker's matchers.
    "config": {"common", "runtime", "bpf", "tracker", "config"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = (".h", ".hpp", ".cpp", ".cc", ".c")


def classify(path, table):
    for prefix, layer, name in table:
        if path.startswith(prefix):
            return layer, name
    return None


def check(root):
    errors = []
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root).as_posix()
        if not file.is_file() or not rel.endswith(SOURCES) or rel.startswith(("build", ".")):
            continue
        if rel.endswith(".bpf.c") or rel.endswith(".bpf.h"):
            continue  # kernel side: includes its siblings, kernel style
        own = classify(rel, FOLDER_LAYERS)
        if own is None:
            continue
        own_layer, own_name = own
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            inc = match.group(1)
            target = classify(inc, PREFIX_LAYERS)
            if target is None:
                sibling = file.parent / inc
                if "/" not in inc and sibling.exists() and own_name in ("runtime", "tests", "bench"):
                    continue  # a private header beside its sources (runtime/src/gil.h)
                errors.append(f"{rel}:{number}: \"{inc}\" does not name its folder "
                              f"(write \"<folder>/{inc}\")")
                continue
            layer, name = target
            if layer > own_layer:
                errors.append(f"{rel}:{number}: {own_name} (layer {own_layer}) includes "
                              f"\"{inc}\" from {name} (layer {layer}): arrows point down only")
            elif own_name in ALLOWED and name not in ALLOWED[own_name]:
                errors.append(f"{rel}:{number}: {own_name} may include only from "
                              f"{', '.join(sorted(ALLOWED[own_name]))}, not \"{inc}\" ({name})")
    return errors


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    errors = check(root)
    for e in errors:
        print(e)
    print(f"check_layers: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
