#!/usr/bin/env python3
"""`rapid eval` resumes and shards (issue 8): a small sweep on SmolLM2, then
  1. re-running it appends nothing and reports 0 runs to do;
  2. a file cut after 5 records (a killed sweep) is completed to the same keys and answers,
     with the target's prefills restored from the on-disk KV snapshots;
  3. shards 0/2 and 1/2 split the instances disjointly, and their files together hold exactly the
     one-run keys with the same answers and scores;
  4. resuming with another fixed setting (-n) is refused with a message that names it;
  5. `rapid report`'s paired table (each configuration against LC) counts what the records say;
  6. its pooled summary counts the runs and averages contains-answer as the records say;
  7. the drafter's prefill is shared: RAPID at the second eta restores the snapshot the first one
     saved, and a sweep without snapshots (--kv-cache-limit 0) makes the same decisions;
  8. --ctx at the model's whole context is fitted to it (template, answer and drafts left room);
     an answer that leaves no room is refused.
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
    first_log = run(full)
    a = by_key(records(full))
    # 4 instances x (lc, lookup, rapid eta 0, rapid eta 10)
    assert len(a) == 16, f"expected 16 records, got {len(a)}"
    assert all(r["stats"]["emitted"] > 0 for r in a.values())
    assert all(r["speedup"] is not None for r in a.values()), "every record needs LC's speed"

    # Decoding seeds: one per instance, shared by its configurations (RAPID eta 0 draws as SD would).
    seeds = {}
    for r in a.values():
        seeds.setdefault(r["task"]["id"], set()).add(r["config"]["decoding_seed"])
    assert all(len(v) == 1 for v in seeds.values()), "configurations of one instance drew with different seeds"
    assert len({next(iter(v)) for v in seeds.values()}) == len(seeds), "two instances share a decoding seed"

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
    # 4. A resume with another fixed setting (here -n) is refused before anything runs: the keys
    # leave such settings out, so it would mix two sweeps under the same keys.
    other = list(sweep)
    other[other.index("-n") + 1] = "7"
    p = subprocess.run(other + ["-o", full], capture_output=True, text=True)
    assert p.returncode != 0, "a resume with another -n was accepted"
    assert "max_new_tokens = 6, this sweep uses 7" in p.stderr, p.stderr
    assert len(records(full)) == 16, "the refused resume appended records"

    # 5. `rapid report`'s paired table counts what the records say: per configuration, the
    # instances both it and LC answered right, only it, only LC, neither.
    p = subprocess.run([rapid, "report", full, "--no-plots", "-o", os.path.join(work, "report")], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    paired = p.stdout.split("## Paired comparisons", 1)[1].splitlines()
    lc = {r["task"]["id"]: r["scores"]["contains"] > 0 for r in a.values() if r["config"]["method"] == "lc"}
    configs = {k.split("|", 1)[1] for k in a} - {"lc"}
    for cfg in configs:
        mine = {r["task"]["id"]: r["scores"]["contains"] > 0 for k, r in a.items() if k.split("|", 1)[1] == cfg}
        counts = [sum(mine[i] and lc[i] for i in lc), sum(mine[i] and not lc[i] for i in lc),
                  sum(lc[i] and not mine[i] for i in lc), sum(not mine[i] and not lc[i] for i in lc)]
        name = cfg.replace("|", ", ")
        row = [line for line in paired if line.startswith(f"| {name} | lc |")]
        assert len(row) == 1, f"no paired row for {name}:\n" + "\n".join(paired)
        cells = [c.strip() for c in row[0].split("|")]
        assert cells[3] == "4" and cells[4] == " / ".join(map(str, counts)), (row[0], counts)

    # 6. The pooled summary: runs and contains-answer per configuration, as the records say.
    summary = p.stdout.split("## Summary per configuration", 1)[1].split("\n## ", 1)[0].splitlines()
    for cfg in configs | {"lc"}:
        mine = [r["scores"]["contains"] for k, r in a.items() if k.split("|", 1)[1] == cfg]
        row = [line for line in summary if line.startswith(f"| {cfg.replace('|', ', ')} |")]
        assert len(row) == 1, f"no summary row for {cfg}:\n" + "\n".join(summary)
        cells = [c.strip() for c in row[0].split("|")]
        assert cells[2] == str(len(mine)), (row[0], len(mine))
        assert cells[3].startswith(f"{100 * sum(mine) / len(mine):.1f}"), (row[0], mine)

    # 7. Drafter snapshots: the first run restored the drafter prefill for RAPID's second eta, and
    # a run with no snapshots at all decides every draft alike.
    assert first_log.count("prefill drafter: restored") == 4, "RAPID eta 10 did not reuse eta 0's drafter prefill:\n" + first_log
    plain = os.path.join(work, "plain.jsonl")
    run(plain, "--kv-cache-limit", "0")
    c = by_key(records(plain))
    assert c.keys() == a.keys()
    for k in a:
        for field in ("accepted", "drafted", "steps"):
            assert c[k]["stats"][field] == a[k]["stats"][field], (k, field)
        assert c[k]["answer"] == a[k]["answer"], k

    # 8. A length the model cannot hold is fitted to it: --ctx at the model's whole context makes an
    # instance that fits beside the template, the answer (-n) and the drafts (--gamma) instead of
    # failing at its prompt; an answer that leaves no room is refused with a message naming -n.
    meta = subprocess.run([rapid, "inspect", model], capture_output=True, text=True, check=True).stdout
    n_ctx = int(next(line.split()[-1] for line in meta.splitlines()
                     if line.split() and line.split()[0].endswith(".context_length")))
    fit = os.path.join(work, "fit.jsonl")
    whole = [rapid, "eval", "-m", model, "--tasks", "passkey", "--ctx", str(n_ctx), "--depths", "0.5", "--instances", "1",
             "--methods", "lc", "--gamma", "3", "--haystack", haystack, "-t", "2", "--kv-cache-limit", "0"]
    p = subprocess.run(whole + ["-n", "6", "-o", fit], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    [r] = records(fit)
    room = n_ctx - 6 - 3 - 16  # and the chat template's few tens of tokens
    assert r["task"]["ctx_tokens"] == n_ctx, r["task"]
    assert 0.9 * room < r["task"]["measured_tokens"] < room, (r["task"], room)
    p = subprocess.run(whole + ["-n", str(n_ctx), "-o", os.path.join(work, "no_room.jsonl")], capture_output=True, text=True)
    assert p.returncode != 0 and "leaving none for a document; lower -n" in p.stderr, p.stderr

    print(f"eval resume/shard: 16 records; re-run appended none; a 5-record file completed with restored prefills; "
          f"drafter prefills shared and equal to unshared ones; "
          f"shards {len(r0)} + {len(r1)} records match the single run; a {n_ctx}-token request made "
          f"{r['task']['measured_tokens']} tokens")


if __name__ == "__main__":
    main()
