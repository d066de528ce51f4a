#!/usr/bin/env python3
"""Independent facts about a safetensors file, for tests/io/test_safetensors.cpp to compare with.

Reads the file with the standard library only (struct, json, hashlib), so it runs on any python3
and shares no code with the C++ reader. Writes, per tensor in data-offset order: name, dtype,
shape, data_offsets, and for numeric tensors the exact sum (math.fsum), the sum of absolute
values (the C++ test's tolerance scales with it) and the first 4 values.

usage: scripts/reference_safetensors.py [MODEL [OUTPUT]]
  MODEL   default $RAPID_CACHE_DIR/models/all-minilm-l6-v2/model.safetensors
  OUTPUT  default $RAPID_CACHE_DIR/reference/safetensors/minilm.json
  ($RAPID_CACHE_DIR defaults to ~/.cache/rapid)
"""
import hashlib
import json
import math
import os
import struct
import sys
from pathlib import Path

# struct codes for the dtypes the values are summed for (BF16 is decoded by hand below).
FORMATS = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i", "I16": "h", "I8": "b",
           "U64": "Q", "U32": "I", "U16": "H", "U8": "B", "BOOL": "?"}
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}


def values(dtype, raw):
    if dtype == "BF16":
        halves = struct.unpack(f"<{len(raw) // 2}H", raw)
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    code = FORMATS[dtype]
    return list(struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw))


def main(argv):
    cache = Path(os.environ.get("RAPID_CACHE_DIR") or Path.home() / ".cache" / "rapid")
    model = Path(argv[1]) if len(argv) > 1 else cache / "models" / "all-minilm-l6-v2" / "model.safetensors"
    output = Path(argv[2]) if len(argv) > 2 else cache / "reference" / "safetensors" / "minilm.json"

    blob = model.read_bytes()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})

    tensors = []
    for name, info in sorted(header.items(), key=lambda kv: (kv[1]["data_offsets"], kv[0])):
        begin, end = info["data_offsets"]
        dtype = info["dtype"]
        count = math.prod(info["shape"])
        assert end - begin == count * SIZES[dtype], f"{name}: size mismatch"
        entry = {"name": name, "dtype": dtype, "shape": info["shape"], "data_offsets": [begin, end]}
        if dtype in SIZES:
            v = [float(x) for x in values(dtype, data[begin:end])]
            entry.update(sum=math.fsum(v), abs_sum=math.fsum(abs(x) for x in v), first=v[:4])
        tensors.append(entry)

    reference = {
        "file": str(model.name),
        "file_size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "header_length": n,
        "metadata": metadata,
        "tensors": tensors,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(reference, indent=1, allow_nan=False) + "\n")
    print(f"{output}: {len(tensors)} tensors from {model} ({len(blob)} bytes)")


if __name__ == "__main__":
    main(sys.argv)
