#!/usr/bin/env python3
"""Prints the identifier and size of a serialized dsc program (FlatBuffer)."""
import sys

data = open(sys.argv[1], "rb").read()
print("identifier", data[4:8].decode("ascii", "replace"))
print("size", len(data))
