#!/usr/bin/env python3
"""Copies a checkpoint folder and breaks it in one way, for the tests of bad
checkpoints (checkpoint-errors.test).

    corrupt-checkpoint.py SRC DST MODE [TENSOR]

MODE is one of: truncate, header-too-long, not-json, offsets-out-of-range,
overlap, dtype, shape, missing-tensor, missing-shard. TENSOR names the tensor
to break where the mode needs one. Shards are rewritten with the same data
region; only the 8-byte length and the JSON header change.
"""
import json
import os
import shutil
import struct
import sys


def read_shard(path):
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def write_shard(path, header, data):
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def main():
    src, dst, mode = sys.argv[1:4]
    tensor = sys.argv[4] if len(sys.argv) > 4 else None
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    index_path = os.path.join(dst, "model.safetensors.index.json")
    with open(index_path) as f:
        index = json.load(f)
    shard = os.path.join(dst, index["weight_map"][tensor] if tensor
                         else sorted(set(index["weight_map"].values()))[0])
    header, data = read_shard(shard)

    if mode == "truncate":
        size = os.path.getsize(shard)
        with open(shard, "r+b") as f:
            f.truncate(size // 2)
    elif mode == "header-too-long":
        with open(shard, "r+b") as f:
            f.write(struct.pack("<Q", os.path.getsize(shard) + 100))
    elif mode == "not-json":
        with open(shard, "r+b") as f:
            f.seek(8)
            f.write(b"this is not JSON")
    elif mode == "offsets-out-of-range":
        begin, end = header[tensor]["data_offsets"]
        header[tensor]["data_offsets"] = [len(data) + 16, len(data) + 16 + end - begin]
        write_shard(shard, header, data)
    elif mode == "overlap":
        # Move TENSOR onto the bytes of another tensor of the same length.
        begin, end = header[tensor]["data_offsets"]
        for name, info in header.items():
            if name in (tensor, "__metadata__"):
                continue
            b, e = info["data_offsets"]
            if e - b >= end - begin and (b, e) != (begin, end):
                header[tensor]["data_offsets"] = [b, b + end - begin]
                break
        write_shard(shard, header, data)
    elif mode == "dtype":
        header[tensor]["dtype"] = "F16"  # same size as BF16: a valid file
        write_shard(shard, header, data)
    elif mode == "shape":
        header[tensor]["shape"] = list(reversed(header[tensor]["shape"]))
        write_shard(shard, header, data)
    elif mode == "missing-tensor":
        del header[tensor]
        del index["weight_map"][tensor]
        write_shard(shard, header, data)
        with open(index_path, "w") as f:
            json.dump(index, f)
    elif mode == "missing-shard":
        os.remove(shard)
    else:
        sys.exit(f"corrupt-checkpoint.py: unknown mode {mode}")


if __name__ == "__main__":
    main()
