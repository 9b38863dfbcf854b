#!/usr/bin/env python3
"""Counts a -dbg vmlinux's alternatives entries and callbacks for scripts/linux-truth.

    linux-truth-count.py VMLINUX COMMON_HEADERS CPUCAPS START END READELF_S_OUTPUT

Prints `<entries>\t<callbacks>\t<first>\t<rule>`, <first> the index of the first entry whose
site lies in the section `.rodata.text` (entry trampoline, idmap, hibernate, kexec) or `-`. Every rule comes from Linux's own headers of the
same build (COMMON_HEADERS, CPUCAPS); the table's bytes from the file offset `readelf -S`
gives for the section that holds START. Kept small on purpose: this is the ground truth.
"""
import re
import struct
import sys
from pathlib import Path

vmlinux, common, cpucaps, start, end, sections = sys.argv[1:7]
start, end = int(start, 16), int(end, 16)
asm = next(Path(common).glob("usr/src/*/arch/arm64/include/asm"))

# struct alt_instr: s32 orig_offset; s32 alt_offset; u16 cpufeature (6.12: cpucap); u8; u8.
body = re.search(r"struct alt_instr \{(.*?)\};", (asm / "alternative.h").read_text(), re.S)
fields = re.findall(r"^\s*(s32|u16|u8)\s+\w+;", body.group(1), re.M)
assert fields == ["s32", "s32", "u16", "u8", "u8"], f"struct alt_instr changed: {fields}"
ENTRY = 12
assert (end - start) % ENTRY == 0, "the table is not a whole number of entries"

macros = asm / "alternative-macros.h"
shift = re.search(r"#define ARM64_CB_SHIFT\s+(\d+)", macros.read_text()) if macros.exists() else None
if shift:
    bit = 1 << int(shift.group(1))
    is_callback, rule = (lambda c: c & bit != 0), f"cpufeature & (1 << {shift.group(1)})"
else:
    assert re.search(r"#define ARM64_CB_PATCH ARM64_NCAPS", (asm / "alternative.h").read_text())
    ncaps = int(re.search(r"#define ARM64_NCAPS\s+(\d+)", Path(cpucaps).read_text()).group(1))
    is_callback, rule = (lambda c: c == ncaps), f"cpufeature == ARM64_CB_PATCH == ARM64_NCAPS {ncaps}"

row = re.compile(r"\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]{16})\s+([0-9a-f]+)\s+([0-9a-f]+)")
secs = {m.group(1): [int(g, 16) for g in m.groups()[1:]] for m in map(row.search, open(sections)) if m}
addr, off, size = next(s for s in secs.values() if s[0] <= start and end <= s[0] + s[2])
with open(vmlinux, "rb") as f:
    f.seek(off + start - addr)
    table = f.read(end - start)
caps = [struct.unpack_from("<H", table, i + 8)[0] for i in range(0, len(table), ENTRY)]
# A site is its entry's own address plus orig_offset (arch/arm64/kernel/alternative.c ALT_ORIG_PTR).
sites = [start + i + struct.unpack_from("<i", table, i)[0] for i in range(0, len(table), ENTRY)]
ro_addr, _, ro_size = secs.get(".rodata.text", (0, 0, 0))
first = next((str(i) for i, s in enumerate(sites) if ro_addr <= s < ro_addr + ro_size), "-")
print(f"{len(caps)}\t{sum(map(is_callback, caps))}\t{first}\t{rule}")
