#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target to tests/fuzz/corpus/<target>/ (committed; run
again after changing a seed). Small valid inputs only, so that the fuzzers start from the shapes
the code expects:

  elf_symbols  tiny shared objects (built here with gcc) whose sem_* functions hold the bytes of
               glibc 2.36 (tests/unit/elf/glibc236_code.h), versioned GLIBC_2.34 like glibc's,
               stripped and with .symtab, and a relocatable object
  proc_maps    a few /proc/PID/maps texts (glibc, musl, a container, deleted files)
  x86_sites    glibc 2.36's semaphore functions in x86_sites_fuzz.cpp's format, per probe mode
  labels       group templates and names with quotes, backslashes, newlines, non-UTF-8 bytes
  report_json  process names and executables, the same kinds
  config       systemd/gilstatd.yml and the configurations of tests/unit/config

Other files in the corpus directories are inputs that once crashed or hung a target (named
after what they found): they are kept.
"""
import pathlib
import re
import shutil
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "corpus"

FUNCTIONS = [  # (symbol, array in glibc236_code.h)
    ("sem_wait", "kWait"),
    ("sem_timedwait", "kTimedwait"),
    ("sem_clockwait", "kClockwait"),
    ("sem_trywait", "kTrywait"),
    ("sem_post", "kPost"),
]
SLOW_PATH = bytes([0x41, 0x54, 0x55, 0x53, 0x48, 0x89, 0xfb])  # push %r12; push %rbp; push %rbx


def glibc_code():
    text = (ROOT / "tests/unit/elf/glibc236_code.h").read_text()
    code = {}
    for name, values in re.findall(r"(k\w+) = \{([^}]*)\}", text):
        code[name] = bytes(int(v, 16) for v in re.findall(r"0x[0-9a-fA-F]+", values))
    return code


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def elf_seeds(code):
    asm = [".text"]
    for sym, arr in FUNCTIONS:
        asm += [f".globl {sym}_new", f".type {sym}_new,@function", f"{sym}_new:",
                ".byte " + ",".join(str(b) for b in code[arr]), f".size {sym}_new,.-{sym}_new",
                f'.symver {sym}_new, {sym}@@GLIBC_2.34']
    # An old non-default version of sem_wait at another address, as glibc has.
    asm += [".globl sem_wait_old", ".type sem_wait_old,@function", "sem_wait_old:",
            ".byte 0xf3,0x0f,0x1e,0xfa,0xc3", ".size sem_wait_old,.-sem_wait_old",
            ".symver sem_wait_old, sem_wait@GLIBC_2.2.5"]
    version_script = ("GLIBC_2.2.5 { global: sem_wait; local: *; };\n"
                      "GLIBC_2.34 { global: sem_wait; sem_timedwait; sem_clockwait; sem_trywait;"
                      " sem_post; } GLIBC_2.2.5;\n")
    small = ["-Wl,-z,max-page-size=16", "-Wl,-z,noseparate-code", "-Wl,--hash-style=gnu",
             "-Wl,-z,norelro", "-Wl,--build-id=none"]
    with tempfile.TemporaryDirectory() as tmp:
        t = pathlib.Path(tmp)
        (t / "sem.s").write_text("\n".join(asm) + "\n")
        (t / "v.map").write_text(version_script)
        subprocess.run(["gcc", "-shared", "-nostdlib", "-o", t / "libsem.so", t / "sem.s",
                        f"-Wl,--version-script={t / 'v.map'}", *small], check=True)
        subprocess.run(["gcc", "-c", "-o", t / "sem.o", t / "sem.s"], check=True)
        shutil.copy(t / "libsem.so", t / "libsem-symtab.so")
        subprocess.run(["strip", "-R", ".comment", "-R", ".eh_frame", "-R", ".eh_frame_hdr",
                        t / "libsem.so"], check=True)
        subprocess.run(["strip", "--strip-debug", "-R", ".comment", t / "libsem-symtab.so"],
                       check=True)
        for f in ("libsem.so", "libsem-symtab.so", "sem.o"):
            write("elf_symbols", f, (t / f).read_bytes())


MAPS = {
    "glibc": "55d0c0a00000-55d0c0a28000 r--p 00000000 fd:01 1234 /usr/bin/python3.11\n"
             "7f1e2c000000-7f1e2c028000 r--p 00000000 fd:01 5678 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
             "7f1e2c028000-7f1e2c1bd000 r-xp 00028000 fd:01 5678 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
             "7ffd1a2b0000-7ffd1a2d1000 rw-p 00000000 00:00 0                          [stack]\n",
    "musl": "7f00aa000000-7f00aa0a0000 r-xp 00014000 00:2f 99 /lib/ld-musl-x86_64.so.1\n",
    "old_glibc": "7f00aa000000-7f00aa1a0000 r-xp 00000000 08:02 42 /lib/libc-2.31.so\n",
    "deleted": "7f00aa000000-7f00aa1a0000 r-xp 00000000 08:02 42 /lib/libc.so.6 (deleted)\n"
               "7f00ab000000-7f00ab1a0000 r-xp 00000000 08:02 43 /opt/my app/libc.so.6\n",
    "static": "00400000-00452000 r-xp 00000000 08:02 7 /usr/local/bin/static-prog\n"
              "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n",
}


def planner_seed(code, mode, absent=()):
    out = bytearray([mode])
    for sym, arr in FUNCTIONS:
        c = b"" if sym in absent else code[arr]
        out.append(len(c))
        out += c
    return bytes(out + SLOW_PATH)


NAMES = [  # (template, comm, exe, cgroup, locks…)
    ("{comm}", "python3", "/usr/bin/python3.11", "/system.slice/web.service", "gil", "threading"),
    ("{exe}-{unit}", "ev\xff\xfe", "/tmp/ev\xff\xfe", "/user.slice/app-x.scope", "other"),
    ("{pid}:{comm}{", 'a"b\\c\nd', "/x/y\\", "/", 'lock"}\n# HELP x'),
    ("{unknown}{exe}", "", "/usr/bin/\xc3\xa9t\xc3\xa9", "/system.slice/a\\x2db.service", "\x00"),
]


def fields(parts):
    return "\0".join(parts).encode("latin-1")


def config_seeds():
    write("config", "gilstatd.yml", (ROOT / "systemd/gilstatd.yml").read_bytes())
    for test in sorted((ROOT / "tests/unit/config").glob("*.cpp")):
        src = test.read_text()
        for i, text in enumerate(re.findall(r'R"\((.*?)\)"', src, re.S)):
            write("config", f"{test.stem}_{i}.yml", text)
        for i, text in enumerate(re.findall(r'ErrorOf\("((?:[^"\\]|\\.)*)"\)', src)):
            write("config", f"{test.stem}_error_{i}.yml", text.encode().decode("unicode_escape"))


def main():
    code = glibc_code()
    elf_seeds(code)
    for name, text in MAPS.items():
        write("proc_maps", name, text)
    for mode in range(3):
        write("x86_sites", f"glibc236_mode{mode}", planner_seed(code, mode))
    write("x86_sites", "glibc236_no_clockwait", planner_seed(code, 0, absent={"sem_clockwait"}))
    for i, parts in enumerate(NAMES):
        write("labels", f"names_{i}", fields(parts))
        write("report_json", f"names_{i}", fields(parts[1:3] + parts[1:3][::-1]))
    config_seeds()


if __name__ == "__main__":
    main()
