#!/usr/bin/env python3
"""Copies a dsc executable and damages its embedded program.

    corrupt-program.py EXE OUT identifier|root|vector

The program is found by its FlatBuffer identifier "DSCP" (bytes 4..8 of the
buffer). `identifier` changes the identifier, `root` points the root table
offset outside the buffer, `vector` overwrites the middle of the buffer.
"""
import os
import shutil
import sys

exe, out, mode = sys.argv[1:4]
data = bytearray(open(exe, "rb").read())
at = data.find(b"DSCP")
while at >= 0 and at < 4:
    at = data.find(b"DSCP", at + 1)
if at < 0:
    sys.exit("corrupt-program.py: no program found")
start = at - 4
if mode == "identifier":
    data[at:at + 4] = b"XXXX"
elif mode == "root":
    data[start:start + 4] = (0x7FFFFFF0).to_bytes(4, "little")
elif mode == "vector":
    for i in range(start + 64, start + 256):
        data[i] = 0xFF
else:
    sys.exit(f"corrupt-program.py: unknown mode {mode}")
open(out, "wb").write(data)
os.chmod(out, 0o755)
