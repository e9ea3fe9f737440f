#!/usr/bin/env python3
"""Fails on a function or lambda longer than 80 lines in gilstat's C/C++ sources (docs/ARCHITECTURE.md).

Scans every .c/.h/.cpp/.hpp/.cc file outside tests/, bench/, build directories and hidden
folders, BPF programs (bpf/*.bpf.c) included. A function's length runs from the line of its name
(a lambda's: the line of its `[`) to the line of its closing brace. A long function is accepted
when the line directly above its first line, or the comment block directly above it, says
`long-function: <reason>`. Exits 1 and prints file:line, name and length for every other one.

The scanner blanks comments, string and character literals and preprocessor lines, then matches
braces. A `{` opens a function body when, reading backwards over qualifiers (const, noexcept,
override, a trailing return type) and a constructor's initializer list, it meets `name(...)` with
a name that is not a control keyword; it opens a lambda body when it meets `[...]` or
`[...](...)` where the `[` cannot be a subscript. Usage: check_functions.py [REPO_ROOT]
"""
import pathlib
import re
import sys

LIMIT = 80
SOURCES = (".h", ".hpp", ".cpp", ".cc", ".c")
SKIPPED_TOP = ("tests", "bench")
MARKER = re.compile(r"long-function:\s*\S")

# A `(` preceded by one of these does not start a function's parameter list.
NOT_FUNCTIONS = {
    "if", "for", "while", "switch", "catch", "return", "sizeof", "alignof", "decltype",
    "static_assert", "defined", "requires", "typeid", "co_return", "co_await", "co_yield",
}
# Groups that may stand between a declarator's `)` and the body: noexcept(...), decltype(...)
# in a trailing return type, __attribute__((...)).
QUALIFIER_GROUPS = {"noexcept", "decltype", "throw", "alignas", "__attribute__"}
# Reading backwards from a `{`, these end the search: the brace is a class, namespace, enum,
# initializer or block, not a function body.
STOPS = {";", "{", "(", "=", "?", "return", "class", "struct", "union", "enum", "namespace",
         "case", "default", "else", "do", "try", "extern", "typedef", "using", "template"}
TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.']*|::|->|&&|\|\||[^\s\w]")


def blank(text):
    """Returns text with comments, literals and preprocessor lines replaced by spaces.

    Newlines are kept, so line numbers stay true. A string becomes `""`, a character `' '`.
    """
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c in " \t":
            out.append(c)
            i += 1
            continue
        if line_start and c == "#":
            # Preprocessor line, with its continuations.
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        line_start = False
        if c == "\n":
            line_start = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i + 2)
            delim = text[i + 2:open_paren]
            end = text.find(")" + delim + '"', open_paren)
            end = n if end < 0 else end + len(delim) + 2
            out.append('""' + "".join(ch if ch == "\n" else " " for ch in text[i + 2:end]))
            i = end
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum())):
            # A string or character literal (a ' between digits is a digit separator).
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokenize(clean):
    tokens = []
    for number, line in enumerate(clean.split("\n"), 1):
        for match in TOKEN.finditer(line):
            tokens.append((match.group(0), number))
    return tokens


def match_pairs(tokens):
    """Maps the index of every bracket to the index of its partner."""
    pairs, stacks = {}, {"(": [], "[": [], "{": []}
    closers = {")": "(", "]": "[", "}": "{"}
    for index, (tok, _) in enumerate(tokens):
        if tok in stacks:
            stacks[tok].append(index)
        elif tok in closers and stacks[closers[tok]]:
            opener = stacks[closers[tok]].pop()
            pairs[opener], pairs[index] = index, opener
    return pairs


def is_identifier(tok):
    return bool(re.match(r"[A-Za-z_]\w*$", tok))


def is_lambda_introducer(tokens, pairs, close):
    """True when the `]` at `close` ends a lambda's capture list, not a subscript or attribute."""
    opener = pairs.get(close)
    if opener is None or opener == 0:
        return opener == 0
    if tokens[opener - 1][0] == "[" or tokens[close - 1][0] == "]":
        return False  # [[attribute]]
    before = tokens[opener - 1][0]
    return not (is_identifier(before) and before not in ("return", "co_return")) and before not in (")", "]")


def function_name(tokens, paren):
    """The name before the `(` at index paren, or None when it is not a function declarator."""
    k = paren - 1
    if k < 0:
        return None, None
    tok = tokens[k][0]
    # operator(), operator==, operator bool, operator*: look back a few tokens for `operator`.
    for back in range(0, 3):
        if k - back >= 0 and tokens[k - back][0] == "operator":
            rest = [t for t, _ in tokens[k - back + 1:k + 1]]
            sep = " " if rest and is_identifier(rest[0]) else ""
            return "operator" + sep + "".join(rest), k - back
    if not is_identifier(tok) or tok in NOT_FUNCTIONS:
        return None, None
    start = k
    while start >= 2 and tokens[start - 1][0] == "::" and is_identifier(tokens[start - 2][0]):
        start -= 2
    if start >= 1 and tokens[start - 1][0] == "~":
        start -= 1
    name = "".join(t for t, _ in tokens[start:k + 1])
    if name.startswith("BPF_"):
        # int BPF_KPROBE(sem_wait_entry, void *sem): the program's name is the first argument.
        inner = tokens[paren + 1][0] if paren + 1 < len(tokens) else ""
        if is_identifier(inner):
            name = inner
    return name, start


def classify(tokens, pairs, brace):
    """Returns ("function"|"lambda", name, index of its first token) or None for other braces."""
    j = brace - 1
    steps = 0
    while j >= 0 and steps < 400:
        steps += 1
        tok = tokens[j][0]
        if tok in STOPS:
            return None
        if tok == "]":
            if is_lambda_introducer(tokens, pairs, j):
                return "lambda", "lambda", pairs[j]
            return None
        if tok == "}":
            # A member's brace initializer in a constructor's initializer list: `: a_{x} {`.
            opener = pairs.get(j)
            if opener is None or opener == 0 or not is_identifier(tokens[opener - 1][0]):
                return None
            j = opener - 1
            continue
        if tok == ")":
            opener = pairs.get(j)
            if opener is None:
                return None
            before = tokens[opener - 1][0] if opener > 0 else ""
            if before == "]" and is_lambda_introducer(tokens, pairs, opener - 1):
                return "lambda", "lambda", pairs[opener - 1]
            if before in QUALIFIER_GROUPS:
                j = opener - 2
                continue
            name, start = function_name(tokens, opener)
            if name is None:
                return None
            prev = tokens[start - 1][0] if start > 0 else ""
            access = start >= 2 and tokens[start - 2][0] in ("public", "private", "protected")
            if prev in (".", "->"):
                return None  # a member call: `a.end() ? T{} : ...`
            if prev in (",", ":") and not access and not name.startswith("operator"):
                # A member initializer `: a_(x), b_(y)`; the constructor's `)` is further back.
                j = start - 1
                continue
            return "function", name, start
        j -= 1
    return None


def opens_class(tokens, brace):
    """True when the `{` at brace opens a class, struct or union body (members, not code)."""
    j = brace - 1
    while j >= 0 and tokens[j][0] not in (";", "{", "}", "(", ")", "="):
        if tokens[j][0] in ("class", "struct", "union"):
            return True
        j -= 1
    return False


def first_line(tokens, start):
    """The line where the declaration or statement holding the token at `start` begins."""
    j = start
    while j > 0 and tokens[j - 1][0] not in (";", "{", "}") and not (
            tokens[j - 1][0] == ":" and j >= 2 and tokens[j - 2][0] in ("public", "private", "protected")):
        j -= 1
    return tokens[j][1]


def has_marker(lines, line):
    """True when the line above `line` (1-based), or the comment block above it, has the marker."""
    k = line - 2
    if k >= 0 and MARKER.search(lines[k]):
        return True
    while k >= 0:
        text = lines[k].strip()
        if not (text.startswith(("//", "/*", "*")) or text.endswith("*/")):
            return False
        if MARKER.search(text):
            return True
        k -= 1
    return False


def long_functions(text):
    """Yields (line, name, length, exempt) for every function or lambda over LIMIT lines."""
    tokens = tokenize(blank(text))
    pairs = match_pairs(tokens)
    lines = text.split("\n")
    # For every open brace: does it hold code (a function's, a lambda's or a block's body)?
    # Inside code, `name(...) {` is a macro loop such as bpf_object__for_each_program, not a
    # function; only lambdas and local classes' members start new functions there.
    holds_code = []
    for index, (tok, line) in enumerate(tokens):
        if tok == "}" and index in pairs and holds_code:
            holds_code.pop()
            continue
        if tok != "{" or index not in pairs:
            continue
        in_code = bool(holds_code) and holds_code[-1]
        found = classify(tokens, pairs, index)
        if found is not None and found[0] == "function" and in_code:
            found = None
        if found is None:
            holds_code.append(in_code and not opens_class(tokens, index))
            continue
        holds_code.append(True)
        kind, name, start = found
        begin = tokens[start][1]
        length = tokens[pairs[index]][1] - begin + 1
        if length <= LIMIT:
            continue
        exempt = has_marker(lines, begin) or has_marker(lines, first_line(tokens, start))
        yield begin, name, length, exempt


def source_files(root):
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root)
        top = rel.parts[0]
        if (not file.is_file() or not file.name.endswith(SOURCES) or top in SKIPPED_TOP
                or top.startswith(("build", ".")) or any(p.startswith(".") for p in rel.parts)):
            continue
        yield file, rel.as_posix()


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    errors = 0
    accepted = 0
    for file, rel in source_files(root):
        for line, name, length, exempt in long_functions(file.read_text(errors="replace")):
            if exempt:
                accepted += 1
                continue
            errors += 1
            print(f"{rel}:{line}: {name} is {length} lines (limit {LIMIT}); split it, or say why "
                  f"not in a `// long-function: <reason>` comment directly above it")
    print(f"check_functions: {errors} function(s) over {LIMIT} lines, {accepted} accepted with a reason")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
