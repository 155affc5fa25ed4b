#!/usr/bin/env python3
"""kconfig.py - knlp's front end to kconfiglib.

  kconfig.py defconfig FILE          load a defconfig into .config, report dropped lines
  kconfig.py olddefconfig            normalise .config (new symbols take defaults)
  kconfig.py savedefconfig FILE      write the minimal defconfig of .config
  kconfig.py check [FILE]            report lines of FILE (.config) that Kconfig drops; exit 1 if any
  kconfig.py genconfig HEADER        write the C header of build-time switches
  kconfig.py symbols OUT             write the C++ symbol table (name, type, range)
  kconfig.py dead-symbols SRC_DIR    list symbols Kconfig declares that nothing reads, and the reverse
  kconfig.py normalize FILE          print FILE as olddefconfig would write it
  kconfig.py expand FILE REQUEST     the .config of each run of a test matrix (JSON, see cmd_expand)

KCONFIG_CONFIG names the .config file (default .config); the Kconfig tree is read
from the current directory.
"""
import json
import os
import re
import sys
import tempfile

import kconfiglib

ASSIGN = re.compile(r'^CONFIG_([A-Za-z0-9_]+)=(.*)$')
NOT_SET = re.compile(r'^# CONFIG_([A-Za-z0-9_]+) is not set$')


def config_path():
    return os.environ.get("KCONFIG_CONFIG", ".config")


def load_kconfig():
    return kconfiglib.Kconfig("Kconfig", warn_to_stderr=False, suppress_traceback=True)


def requested_lines(path):
    """(lineno, symbol name, requested value, raw line) for each assignment in path."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = ASSIGN.match(line)
            if m:
                value = m.group(2).strip()
                if value.startswith('"'):
                    # a quoted string, maybe followed by an inline comment
                    end = re.match(r'"((?:[^"\\]|\\.)*)"', value)
                    value = end.group(1).replace('\\"', '"').replace("\\\\", "\\") if end else value
                else:
                    value = value.split("#", 1)[0].strip()
                yield n, m.group(1), value, line
                continue
            m = NOT_SET.match(line.strip())
            if m:
                yield n, m.group(1), "n", line


def why_dropped(kconf, name, want):
    """Why kconfiglib did not keep `name=want`, or None when it did."""
    sym = kconf.syms.get(name)
    if sym is None or not sym.nodes:
        return "undeclared symbol (not in Kconfig)"
    if sym.str_value == want:
        return None
    if sym.type in (kconfiglib.INT, kconfiglib.HEX):
        for lo, hi, cond in sym.ranges:
            if kconfiglib.expr_value(cond):
                lo_v, hi_v = int(lo.str_value, 0), int(hi.str_value, 0)
                try:
                    v = int(want, 0)
                except ValueError:
                    return f"'{want}' is not an integer"
                if not lo_v <= v <= hi_v:
                    return f"out of range {lo_v}..{hi_v}; kept {sym.str_value}"
    if not sym.visibility and sym.nodes[0].prompt is not None:
        deps = kconfiglib.expr_str(sym.direct_dep)
        return f"unmet dependency ({deps}); kept {sym.str_value or 'unset'}"
    if sym.nodes[0].prompt is None:
        return f"hidden symbol, computed by Kconfig; kept {sym.str_value or 'unset'}"
    if sym.choice is not None and want == "n":
        return f"choice member; the choice kept {sym.choice.selection.name if sym.choice.selection else 'none'}"
    return f"overridden by Kconfig; kept {sym.str_value or 'unset'}"


def report_dropped(kconf, path):
    dropped = 0
    for n, name, want, line in requested_lines(path):
        reason = why_dropped(kconf, name, want)
        if reason:
            dropped += 1
            print(f"  DROPPED {os.path.basename(path)}:{n}: {line.strip()}: {reason}")
    return dropped


def cmd_defconfig(path):
    kconf = load_kconfig()
    kconf.load_config(path)
    dropped = report_dropped(kconf, path)
    kconf.write_config(config_path(), save_old=False)
    print(f"  CONF    {config_path()} from {path}" + (f" ({dropped} lines dropped)" if dropped else ""))


def cmd_olddefconfig():
    kconf = load_kconfig()
    path = config_path()
    if os.path.exists(path):
        kconf.load_config(path)
    kconf.write_config(path, save_old=False)
    print(f"  CONF    {path}")


def cmd_savedefconfig(out):
    kconf = load_kconfig()
    kconf.load_config(config_path())
    kconf.write_min_config(out)
    print(f"  SAVE    {out}")


def cmd_check(path):
    kconf = load_kconfig()
    kconf.load_config(path)
    return 1 if report_dropped(kconf, path) else 0


def cmd_genconfig(header):
    kconf = load_kconfig()
    if os.path.exists(config_path()):
        kconf.load_config(config_path())
    os.makedirs(os.path.dirname(header) or ".", exist_ok=True)
    kconf.write_autoconf(header)


def config_text(kconf):
    """The .config kconfiglib would write, as a string."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "config")
        kconf.write_config(path, header="", save_old=False)
        with open(path, encoding="utf-8") as f:
            return f.read()


def cmd_normalize(path):
    kconf = load_kconfig()
    kconf.load_config(path)
    sys.stdout.write(config_text(kconf))


def cmd_expand(path, request):
    """The test matrix's expansion (src/config/resolve_matrix.cpp) asks, for each
    combination, what the matrix .config becomes once a list of symbols is set:
    REQUEST is a JSON list of combinations, each a list of [SYMBOL, value]. Prints
    a JSON list with, per combination, {"config": the normalised .config text,
    "dropped": [[SYMBOL, value, why], ...] for the assignments Kconfig did not keep}.
    The C++ side decides which drops make a combination invalid."""
    kconf = load_kconfig()
    with open(request, encoding="utf-8") as f:
        combos = json.load(f)
    out = []
    for assigns in combos:
        kconf.load_config(path)
        for name, value in assigns:
            sym = kconf.syms.get(name)
            if sym is None or not sym.nodes:
                raise kconfiglib.KconfigError(f"{request}: CONFIG_{name}: undeclared symbol")
            sym.set_value(value)
        dropped = [[n, v, why_dropped(kconf, n, v)] for n, v in assigns]
        out.append({"config": config_text(kconf), "dropped": [d for d in dropped if d[2]]})
    json.dump(out, sys.stdout)


TYPES = {kconfiglib.BOOL: "kBool", kconfiglib.TRISTATE: "kBool", kconfiglib.INT: "kInt",
         kconfiglib.HEX: "kInt", kconfiglib.STRING: "kString"}


def cmd_symbols(out):
    kconf = load_kconfig()
    rows = []
    for sym in kconf.unique_defined_syms:
        lo, hi = 1, 0
        if sym.ranges:
            lo, hi = (int(x.str_value, 0) for x in sym.ranges[0][:2])
        rows.append(f'{{"{sym.name}", SymbolType::{TYPES[sym.type]}, {lo}, {hi}}},\n')
    text = "// generated by scripts/kconfig.py symbols from Kconfig; do not edit\n" + "".join(rows)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    if not os.path.exists(out) or open(out).read() != text:
        with open(out + ".tmp", "w") as f:
            f.write(text)
        os.replace(out + ".tmp", out)


def used_in_kconfig(kconf):
    """Names that other symbols' dependencies, selects or defaults refer to."""
    used = set()
    for sym in kconf.unique_defined_syms + list(kconf.unique_choices):
        exprs = [sym.direct_dep] + [c for _, c in getattr(sym, "defaults", [])]
        exprs += [d for d, _ in getattr(sym, "defaults", [])]
        exprs += [s for s, _ in getattr(sym, "selects", [])]
        for e in exprs:
            for s in kconfiglib.expr_items(e):
                if isinstance(s, kconfiglib.Symbol):
                    used.add(s.name)
    return used


def cmd_dead_symbols(src_dir):
    """Every Kconfig symbol must be read by src/config or the build (CMakeLists.txt),
    or feed another symbol; every symbol name src/config reads must be declared."""
    kconf = load_kconfig()
    declared = {s.name for s in kconf.unique_defined_syms}
    read = set()
    for root, _, files in os.walk(src_dir):
        for f in files:
            if f.endswith((".cpp", ".h")):
                text = open(os.path.join(root, f)).read()
                # symbol names as arguments: get_int("X"), {"adamw", "ADAMW_BETA1", ...}
                read |= set(re.findall(r'[({,]\s*"(?:CONFIG_)?([A-Z][A-Z0-9_]*[A-Z0-9])"', text))
    for extra in ("CMakeLists.txt",):
        if os.path.exists(extra):
            read |= set(re.findall(r'(?<![A-Z_])CONFIG_([A-Z0-9_]+)', open(extra).read()))
    feeds = used_in_kconfig(kconf)
    dead = sorted(n for n in declared if n not in read and n not in feeds)
    unknown = sorted(n for n in read - declared if not n.startswith(("KNLP_", "SIG")))
    for n in dead:
        print(f"dead symbol: CONFIG_{n} is declared in Kconfig but nothing reads it")
    for n in unknown:
        print(f"undeclared symbol: {src_dir} reads \"{n}\", which Kconfig does not declare")
    print(f"{len(declared)} symbols declared, {len(dead)} dead, {len(unknown)} undeclared")
    return 1 if dead or unknown else 0


def main(argv):
    cmds = {"defconfig": cmd_defconfig, "olddefconfig": cmd_olddefconfig,
            "savedefconfig": cmd_savedefconfig, "genconfig": cmd_genconfig,
            "symbols": cmd_symbols, "check": cmd_check, "dead-symbols": cmd_dead_symbols,
            "normalize": cmd_normalize, "expand": cmd_expand}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "check" and len(argv) == 2:
        argv.append(config_path())
    try:
        return cmds[argv[1]](*argv[2:]) or 0
    except (kconfiglib.KconfigError, OSError) as e:
        print(f"knlp: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
