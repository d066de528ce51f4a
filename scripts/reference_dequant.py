#!/usr/bin/env python3
"""Reference dequantisation of real GGUF tensors by gguf-py, for tests/ops/test_dequant_real.cpp.

For every model in $RAPID_CACHE_DIR/models/*.gguf (default ~/.cache/rapid), picks up to two
tensors of each tensor type present (the first one, and the last one of a different shape when
there is one), dequantizes a few rows (0, 1, 2 and the last) with gguf.quants.dequantize, and
writes them as little-endian float32 to
    $RAPID_CACHE_DIR/reference/dequant/<model stem>/<tensor name>.f32     (len(rows), cols)
plus index.json listing model, tensor name, type, cols, rows and file for each.

Run with the oracle environment:  PY=$(scripts/python_env.sh); $PY scripts/reference_dequant.py
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf.quants import dequantize

PER_TYPE = 2


def cache_dir() -> Path:
    env = os.environ.get("RAPID_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "rapid"


def pick_tensors(reader):
    """Up to PER_TYPE 2-D tensors per type: the first, then the last with another shape."""
    by_type = {}
    for t in reader.tensors:
        if len(t.shape) != 2:
            continue
        by_type.setdefault(t.tensor_type, []).append(t)
    picked = []
    for ts in by_type.values():
        picked.append(ts[0])
        others = [t for t in ts[1:] if tuple(t.shape) != tuple(ts[0].shape)] or ts[1:]
        picked.extend(others[-1:][: PER_TYPE - 1])
    return picked


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=cache_dir())
    args = ap.parse_args()
    models = sorted((args.cache / "models").glob("*.gguf"))
    if not models:
        print(f"no models under {args.cache / 'models'} (run scripts/fetch_models.py)", file=sys.stderr)
        return 1
    for path in models:
        reader = gguf.GGUFReader(path)
        out_dir = args.cache / "reference" / "dequant" / path.stem
        out_dir.mkdir(parents=True, exist_ok=True)
        entries = []
        for t in pick_tensors(reader):
            cols, n_rows = int(t.shape[0]), int(t.shape[1])  # ne order: shape[0] is the row length
            rows = sorted({0, 1, 2, n_rows - 1} & set(range(n_rows)))
            raw = np.asarray(t.data)  # (n_rows, row_bytes) for quantized types, (n_rows, cols) otherwise
            values = dequantize(raw[rows], t.tensor_type).astype(np.float32).reshape(len(rows), cols)
            file = t.name + ".f32"
            values.astype("<f4").tofile(out_dir / file)
            entries.append({"name": t.name, "type": t.tensor_type.name, "type_id": int(t.tensor_type),
                            "cols": cols, "n_rows": n_rows, "rows": rows, "file": file})
            print(f"{path.name}: {t.name} {t.tensor_type.name} {cols}x{n_rows} rows {rows}")
        index = {"model": path.name, "gguf_py": getattr(gguf, "__version__", "0.19.0"), "tensors": entries}
        (out_dir / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
