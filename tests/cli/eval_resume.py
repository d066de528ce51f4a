#!/usr/bin/env python3
"""`rapid eval` resumes and shards (issue 8): a small sweep on SmolLM2, then
  1. re-running it appends nothing and reports 0 runs to do;
  2. a file cut after 5 records (a killed sweep) is completed to the same keys and answers,
     with the target's prefills restored from the on-disk KV snapshots;
  3. shards 0/2 and 1/2 split the instances disjointly, and their files together hold exactly the
     one-run keys with the same answers and scores.
usage: eval_resume.py RAPID_BINARY MODEL.gguf HAYSTACK_DIR WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def by_key(rows):
    out = {}
    for r in rows:
        assert r["key"] not in out, f"duplicate key {r['key']}"
        out[r["key"]] = r
    return out


def main():
    rapid, model, haystack, work = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    kv = os.path.join(work, "kv")
    sweep = [rapid, "eval", "-m", model, "--tasks", "passkey,kv_retrieval", "--ctx", "1024", "--depths", "0.5",
             "--instances", "2", "--methods", "lc,lookup,rapid", "--drafter", "self", "--eta", "0,10", "--gamma", "3",
             "--rag-budget", "256", "-n", "6", "--haystack", haystack, "-t", "2", "--kv-cache", kv]

    def run(out, *extra):
        p = subprocess.run(sweep + ["-o", out, *extra], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"rapid eval failed ({p.returncode}):\n{p.stderr}")
        return p.stderr

    full = os.path.join(work, "full.jsonl")
    run(full)
    a = by_key(records(full))
    # 4 instances x (lc, lookup, rapid eta 0, rapid eta 10)
    assert len(a) == 16, f"expected 16 records, got {len(a)}"
    assert all(r["stats"]["emitted"] > 0 for r in a.values())
    assert all(r["speedup"] is not None for r in a.values()), "every record needs LC's speed"

    # 1. Nothing left to do.
    log = run(full)
    assert "0 to do" in log, log
    assert len(records(full)) == 16, "a re-run appended records"

    # 2. A killed sweep: the first 5 records survive.
    cut = os.path.join(work, "cut.jsonl")
    with open(full) as f:
        head = f.readlines()[:5]
    with open(cut, "w") as f:
        f.writelines(head)
    log = run(cut)
    assert "5 runs done, 11 to do" in log, log
    assert "restored" in log, "the re-run prefilled again instead of restoring the KV snapshots:\n" + log
    b = by_key(records(cut))
    assert b.keys() == a.keys()
    for k in a:
        assert b[k]["answer"] == a[k]["answer"] and b[k]["scores"] == a[k]["scores"], k

    # 3. Two shards.
    s0, s1 = os.path.join(work, "s0.jsonl"), os.path.join(work, "s1.jsonl")
    run(s0, "--shard", "0/2")
    run(s1, "--shard", "1/2")
    r0, r1 = by_key(records(s0)), by_key(records(s1))
    assert r0 and r1, "a shard ran nothing"
    tasks0 = {r["task"]["id"] for r in r0.values()}
    tasks1 = {r["task"]["id"] for r in r1.values()}
    assert not tasks0 & tasks1, "shards share an instance"
    merged = {**r0, **r1}
    assert merged.keys() == a.keys()
    for k in a:
        assert merged[k]["answer"] == a[k]["answer"] and merged[k]["scores"] == a[k]["scores"], k
    print(f"eval resume/shard: 16 records; re-run appended none; a 5-record file completed with restored prefills; "
          f"shards {len(r0)} + {len(r1)} records match the single run")


if __name__ == "__main__":
    main()
