#!/usr/bin/env python3
"""Helpers of tests/linux-oracle.

  linux-oracle.py dump SOCKET ADDR SIZE FILE   stop the guest (QMP) and pmemsave its RAM
  linux-oracle.py compare IMAGE RAM SITES      compare altcheck's predicted sites with RAM

compare: finds the raw Image in the RAM dump by its first 4 KiB (QEMU loads it 2 MiB into
RAM; with nokaslr Linux does not move it), then checks each site of `altcheck simulate
--emit-text ... --format json` against Linux's own bytes. Only site bytes are compared: the
rest of the image (data, relocated pointers, ftrace'd function entries) changes at run time.
Prints `equal E modelled M runtime-dependent R different D` and the different sites; exit 1
when any site differs or the Image is not found.
"""
import json
import socket
import sys


def dump(sock, addr, size, out):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile("rw")
    f.readline()  # the QMP greeting

    def cmd(c, **a):
        f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "error" in r:
                sys.exit(f"linux-oracle: QMP {c}: {r['error']}")
            if "return" in r:
                return r

    cmd("qmp_capabilities")
    cmd("stop")
    cmd("pmemsave", val=addr, size=size, filename=out)
    try:
        cmd("quit")
    except (OSError, ValueError):
        pass


def compare(image, ram, sites):
    img = open(image, "rb").read()
    mem = open(ram, "rb").read()
    base = mem.find(img[:4096])
    if base < 0:
        print("linux-oracle: the Image is not in the RAM dump")
        return 1
    mem = mem[base : base + len(img)]
    equal = modelled = runtime = 0
    runtime_changed = applied = 0
    different = []
    for line in open(sites):
        o = json.loads(line)
        if o.get("type") != "site":
            continue
        got = mem[o["offset"] : o["offset"] + o["len"]].hex()
        applied += o["applied"]
        if o["runtime_dependent"]:
            runtime += 1
            runtime_changed += got != o["before"]
        elif got != o["after"]:
            different.append(o | {"linux": got})
        elif o["modelled"]:
            modelled += 1
        else:
            equal += 1
    print(f"image at RAM+{base:#x}: {applied} of the sites applied; equal {equal} modelled {modelled} runtime-dependent {runtime} "
          f"({runtime_changed} changed by Linux) different {len(different)}")
    for d in different[:20]:
        print(f"    DIFFERENT entry {d['index']} {d['capability']} at {d['site']}: {d['why']}; "
              f"predicted {d['after']}, Linux {d['linux']}, original {d['before']}")
    return 1 if different else 0


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2], int(sys.argv[3], 0), int(sys.argv[4], 0), sys.argv[5])
    else:
        sys.exit(compare(*sys.argv[2:5]))
