#!/usr/bin/env python3
"""Regenerates the data tables of docs/results.md from the committed `rapid eval` records.

Each table in the page sits between two markers,

    <!-- table:NAME -->
    ...
    <!-- /table:NAME -->

and this script replaces what lies between them (the prose around them is written by hand and
quotes these tables). Usage:

    python3 scripts/results_tables.py                 # rewrite docs/results.md in place
    python3 scripts/results_tables.py --print speed   # print one table
    python3 scripts/results_tables.py --check         # exit 1 if the page is out of date
    python3 scripts/results_tables.py --curve         # redraw the speedup-vs-context plot (matplotlib)

Intervals are 95 % normal half-widths over instances; paired tests are two-sided exact McNemar
tests on contains-answer. The cost-model table runs build/benchmarks/cost_projection (built by
the default CMake configuration; --cost-projection names another) with the machine numbers quoted
in the page. ctest runs --check (results_page_current), so a change to the records or the cost
model that the page does not show fails the suite.
"""
import argparse
import collections
import functools
import json
import math
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAIN = ROOT / 'docs/results/qwen15b_n48.jsonl'
UPWARD = ROOT / 'docs/results/upward_v3.jsonl'
# LC re-run in the later sessions (another VM of the same kind) that added the self-drafted RAPID
# rows named in LATER_SESSION; their records' speedups divide by the main sweep's LC.
LC_RECHECK = ROOT / 'docs/results/qwen15b_lc_recheck.jsonl'
LATER_SESSION = ['RAPID eta 5 (self, RAG)', 'RAPID eta 20 (self, RAG)']
# The rerun with the verification kernels of issue 22 (Sapphire Rapids VM, 2026-12-05): instance
# indices 0-1 of the main sweep's tasks (72 per method), its own LC.
KERNELS_V2 = ROOT / 'docs/results/qwen15b_v2.jsonl'
KERNELS_V2_GAMMA = ROOT / 'docs/results/qwen15b_v2_gamma.jsonl'  # its gamma axis: 2K, index 0, 12 instances
# The long-context sweep of issue 23 (F16 cache, RAG budget max(4096, L/24)): its own LC per instance.
LONG_F16 = ROOT / 'docs/results/long_f16.jsonl'
# The same sweep's LC and RAPID (0.5B) with other caches, on some of its 32K instances (own prefills).
LONG_CACHES = [ROOT / 'docs/results/long_q8_0.jsonl', ROOT / 'docs/results/long_bf16.jsonl']
PAGE = ROOT / 'docs/results.md'
# The 1K-32K speedup curve: the v2 rerun (1K-4K) and the long sweep (8K up) with the cost model's
# lines; the model's per-configuration predictions are kept beside the plot.
CURVE_DIR = ROOT / 'docs/results/long'
COST_PROJECTION = ROOT / 'build/benchmarks/cost_projection'  # --cost-projection overrides
CTXS = [1024, 2048, 4096]
# Machine numbers of the v2 rerun's VM (docs/results.md quotes them): bandwidths and matmul rates
# measured with the rerun, attention rates per thread (one row; several rows sharing each KV tile)
# with bench_verify on the same VM in session 16. The long sweep's cost lines use them too.
COST_ARGS_V2 = ['--matmul-tile', '0', '--bw1', '12.77e9', '--bw2', '24.95e9', '--matmul-rows-per-s', '10020',
                '--matvec-1t-us', '706', '--attention-gflops-1t', '59', '--multirow-attention-gflops-1t', '88']
LONG_MAGICDEC = ['--magicdec-cache', '4100']  # the long sweep's MagicDec: 4 sink + 4096 window positions
COST_ARGS = ['--matmul-tile', '4', '--bw1', '23.0e9', '--bw2', '30.8e9', '--matmul-rows-per-s', '6833',
             '--matvec-1t-us', '364', '--magicdec-cache', '512']


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def mean(x):
    return sum(x) / len(x)


def half_width(x):
    if len(x) < 2:
        return float('nan')
    m = mean(x)
    return 1.96 * math.sqrt(sum((v - m) ** 2 for v in x) / (len(x) - 1)) / math.sqrt(len(x))


def ci(x, scale=1, digits=2, unit=''):
    """'mean ± half-width' of x, or '-' when empty."""
    if not x:
        return '-'
    return f'{mean(x) * scale:.{digits}f} ± {half_width(x) * scale:.{digits}f}{unit}'


def mcnemar(b, c):
    """Two-sided exact McNemar p for b and c discordant pairs."""
    n = b + c
    return 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n)


def method_name(c):
    m = c['method']
    if m == 'rapid':
        return f"RAPID eta {c['eta']:g}"
    return {'lc': 'LC', 'rag': 'RAG', 'sd': 'SD', 'lookup': 'prompt lookup', 'magicdec': 'MagicDec'}[m]


def eta_of(label):
    """'RAPID eta 20 (self, RAG)' -> 20; every other method -> 0."""
    return float(label.split()[2]) if label.startswith('RAPID') else 0.0


def contains(r):
    return r['scores']['contains'] > 0


def acceptances(rs):
    return [r['stats']['acceptance_rate'] for r in rs if r['stats']['drafted'] > 0]


def paired_row(a_name, b_name, A, B):
    """One row of a paired table: A and B map task id -> record."""
    common = [i for i in A if i in B]
    both = sum(contains(A[i]) and contains(B[i]) for i in common)
    only_a = sum(contains(A[i]) and not contains(B[i]) for i in common)
    only_b = sum(contains(B[i]) and not contains(A[i]) for i in common)
    neither = len(common) - both - only_a - only_b
    acc = [A[i]['stats']['acceptance_rate'] - B[i]['stats']['acceptance_rate'] for i in common
           if A[i]['stats']['drafted'] > 0 and B[i]['stats']['drafted'] > 0]
    em = [A[i]['scores']['exact_match'] - B[i]['scores']['exact_match'] for i in common]
    acc_cell = '-' if not acc else f'{mean(acc) * 100:+.1f} ± {half_width(acc) * 100:.1f} pt'
    return (f'| {a_name} | {b_name} | {both} / {only_a} / {only_b} / {neither} | {mcnemar(only_a, only_b):.2g} | '
            f'{acc_cell} | {mean(em):+.2f} ± {half_width(em):.2f} |')


PAIRED_HEAD = ['| method | reference | both / only method / only reference / neither | McNemar p | acceptance, paired | exact match, paired |',
               '|---|---|---|---:|---|---|']


class Records:
    """The main results file, split into the page's groups of rows."""

    def __init__(self, rows):
        self.rows = rows
        # Main rows: the 0.5B drafter (or none), budget 512, gamma 4, on the instances SD ran.
        main = [r for r in rows if r['config']['rag_budget'] in (0, 512) and r['config']['gamma'] in (0, 4)
                and r['config']['drafter'] != 'self' and r['config']['method'] != 'magicdec']
        sd_ids = {r['task']['id'] for r in main if r['config']['method'] == 'sd'}
        self.main = collections.defaultdict(list)
        for r in main:
            if r['task']['id'] in sd_ids:
                self.main[method_name(r['config'])].append(r)
        self.order = ['LC', 'RAG', 'SD', 'RAPID eta 0', 'RAPID eta 5', 'RAPID eta 10', 'RAPID eta 20', 'prompt lookup']
        counts = {k: len(self.main[k]) for k in self.order}
        if len(set(counts.values())) != 1:
            raise SystemExit(f'main rows have unequal instance counts: {counts}')
        self.by_id = {k: {r['task']['id']: r for r in v} for k, v in self.main.items()}
        # Self-speculation rows (target as drafter) and MagicDec, at gamma 4 / budget 512.
        self.self_rows = collections.defaultdict(list)
        for r in rows:
            c = r['config']
            if c['gamma'] == 4 and (c['drafter'] == 'self' or c['method'] == 'magicdec'):
                self.self_rows[method_name(c) + (' (self, RAG)' if c['method'] != 'magicdec' else '')].append(r)

    def n(self):
        return len(self.main['LC'])


SPEED_HEAD = ['| method (drafter) | 1K | 2K | 4K | acceptance (all lengths) | tau |', '|---|---|---|---|---|---|']


def speed_row(label, rs, rag):
    """One speed-table row: speedup per length, acceptance and tau of records rs (tau 1 for RAG)."""
    cells = [ci([r['speedup'] for r in rs if r['task']['ctx_tokens'] == c], 1, 2, 'x') for c in CTXS]
    acc = acceptances(rs)
    tau = '1' if rag else f"{mean([r['stats']['tau'] for r in rs]):.2f}"
    return f'| {label} | ' + ' | '.join(cells) + f" | {ci(acc, 100, 0, ' %') if acc else '-'} | {tau} |"


def lc_rates(lc):
    """'LC tokens/s at 1K / 2K / 4K: a / b / c' from LC's records."""
    rates = [mean([r['stats']['decode_tokens_per_s'] for r in lc if r['task']['ctx_tokens'] == c]) for c in CTXS]
    return 'LC tokens/s at 1K / 2K / 4K: ' + ' / '.join(f'{v:.1f}' for v in rates)


def table_speed(R):
    out = list(SPEED_HEAD)
    for k in R.order[1:]:
        label = {'RAG': 'RAG (target on 512 retrieved tokens)', 'prompt lookup': 'prompt lookup'}.get(k, k + ' (0.5B, RAG)')
        out.append(speed_row(label, R.main[k], k == 'RAG'))
    return out + ['', lc_rates(R.main['LC']) + f' ({R.n()} instances per method).']


def table_quality(R):
    out = ['| method | contains answer | exact match | token F1 |', '|---|---|---|---|']
    for k in R.order:
        if k == 'RAPID eta 0':
            continue
        rs = R.main[k]
        label = 'SD (0.5B) = RAPID eta 0' if k == 'SD' else k
        out.append(f"| {label} | {ci([r['scores']['contains'] for r in rs])} | {ci([r['scores']['exact_match'] for r in rs])} | "
                   f"{ci([r['scores']['f1'] for r in rs])} |")
    return out


KINDS = ['single_needle', 'multi_key_needle', 'passkey', 'cloze_qa', 'kv_retrieval', 'variable_tracking']


def kinds_table(title, groups, names, metrics=(('contains', contains),)):
    """'title (n instances each):', then rows: methods; columns: task kinds; one line per metric
    when there are several. n is counted on the first method's passkey instances."""
    n = sum(r['task']['kind'] == 'passkey' for r in groups[names[0][0]])
    out = [f'{title} ({n} instances each):', '',
           '| method | ' + ('metric | ' if len(metrics) > 1 else '') + ' | '.join(k.replace('_', ' ') for k in KINDS) + ' |',
           '|---|' + ('---|' if len(metrics) > 1 else '') + '---:|' * len(KINDS)]
    for name, label in names:
        for metric, value in metrics:
            cells = [mean([value(r) for r in groups[name] if r['task']['kind'] == kind]) for kind in KINDS]
            out.append(f'| {label} | ' + (f'{metric} | ' if len(metrics) > 1 else '') + ' | '.join(f'{v:.2f}' for v in cells) + ' |')
    return out


def table_kinds(R):
    return kinds_table('Contains-answer per task kind', R.main, [(k, k) for k in R.order if k != 'RAPID eta 0'])


def table_paired(R):
    rapid = ['RAPID eta 5', 'RAPID eta 10', 'RAPID eta 20']
    pairs = [(a, 'LC') for a in ['RAG', 'SD'] + rapid + ['prompt lookup']]
    pairs += [(a, 'SD') for a in ['RAPID eta 0'] + rapid] + [('RAPID eta 20', 'RAG')]
    return PAIRED_HEAD + [paired_row(a, b, R.by_id[a], R.by_id[b]) for a, b in pairs]


def table_gamma(R):
    ids = {r['task']['id'] for r in R.rows if r['config']['gamma'] == 2}
    groups = collections.defaultdict(list)
    for r in R.rows:
        c = r['config']
        if (r['task']['id'] in ids and c['method'] in ('sd', 'rapid') and c['rag_budget'] == 512 and c['drafter'] != 'self'
                and (c['method'] == 'sd' or c['eta'] == 10)):
            groups[(method_name(c), c['gamma'])].append(r)
    out = [f'{len(ids)} instances at 2K, every gamma on the same instances:', '',
           '| method | gamma | tau | acceptance | speedup vs LC | contains answer |', '|---|---:|---|---|---|---|']
    for (k, g), rs in sorted(groups.items(), key=lambda x: (x[0][0] != 'SD', x[0][1])):
        out.append(f"| {k} (0.5B) | {g} | {ci([r['stats']['tau'] for r in rs])} | {ci(acceptances(rs), 100, 0, ' %')} | "
                   f"{ci([r['speedup'] for r in rs], 1, 2, 'x')} | {ci([r['scores']['contains'] for r in rs])} |")
    return out


def table_budget(R):
    ids = {r['task']['id'] for r in R.rows if r['config']['rag_budget'] in (256, 1024)}
    groups = collections.defaultdict(list)
    for r in R.rows:
        c = r['config']
        if (r['task']['id'] in ids and c['method'] in ('rag', 'sd', 'rapid') and c['gamma'] in (0, 4) and c['drafter'] != 'self'
                and (c['method'] != 'rapid' or c['eta'] == 10)):
            groups[(method_name(c), c['rag_budget'])].append(r)
    out = [f'{len(ids)} instances at 2K, every budget on the same instances:', '',
           '| method | budget | drafter / RAG prompt tokens | acceptance | speedup vs LC | contains answer |',
           '|---|---:|---:|---|---|---|']
    rank = {'RAG': 0, 'SD': 1}
    for (k, b), rs in sorted(groups.items(), key=lambda x: (rank.get(x[0][0], 2), x[0][1])):
        tokens = mean([r['stats']['drafter_prompt_tokens'] if k != 'RAG' else r['stats']['target_prompt_tokens'] for r in rs])
        label = k if k == 'RAG' else k + ' (0.5B)'
        out.append(f"| {label} | {b} | {tokens:.0f} | {ci(acceptances(rs), 100, 0, ' %') if k != 'RAG' else '-'} | "
                   f"{ci([r['speedup'] for r in rs], 1, 2, 'x')} | {ci([r['scores']['contains'] for r in rs])} |")
    return out


def table_self(R):
    """Self-speculation and MagicDec; the 0.5B SD row on the self-drafted instances for comparison."""
    names = sorted(R.self_rows, key=lambda k: ('MagicDec' in k, 'RAPID' in k, eta_of(k)))
    self_ids = {r['task']['id'] for k in names if k.startswith('SD') for r in R.self_rows[k]}
    rows = {'SD (0.5B, RAG), same instances as SD (self)': [R.by_id['SD'][i] for i in sorted(self_ids) if i in R.by_id['SD']]}
    for k in names:
        rows[k.replace('MagicDec', 'MagicDec (self, StreamingLLM 4 + 508)')] = R.self_rows[k]
    out = ['| method (drafter) | instances (1K / 2K / 4K) | 1K | 2K | 4K | acceptance | tau | contains answer |',
           '|---|---|---|---|---|---|---|---|']
    for k, rs in rows.items():
        n = ' / '.join(str(sum(r['task']['ctx_tokens'] == c for r in rs)) for c in CTXS)
        cells = [ci([r['speedup'] for r in rs if r['task']['ctx_tokens'] == c], 1, 2, 'x') for c in CTXS]
        out.append(f"| {k} | {len(rs)} ({n}) | " + ' | '.join(cells) + f" | {ci(acceptances(rs), 100, 0, ' %')} | "
                   f"{mean([r['stats']['tau'] for r in rs]):.2f} | {ci([r['scores']['contains'] for r in rs])} |")
    by = {k: {r['task']['id']: r for r in rs} for k, rs in rows.items()}
    keys = list(rows)
    sd_self = next((k for k in keys if k.startswith('SD (self')), None)
    out += [''] + session_drift(R, {k: by[k] for k in LATER_SESSION if k in by})
    out += ['', 'Paired, on the instances both methods ran:', ''] + PAIRED_HEAD
    out += [paired_row(k, 'LC', by[k], R.by_id['LC']) for k in keys[1:]]
    if sd_self:
        out += [paired_row(k, sd_self, by[k], by[sd_self]) for k in keys[1:] if k != sd_self]
        out.append(paired_row(sd_self, 'SD (0.5B, RAG)', by[sd_self], R.by_id['SD']))
    return out


def session_drift(R, later):
    """The later sessions' machine against the main sweep's, through LC re-run on the same instances,
    and the later rows' speedups against those sessions' own LC."""
    lc = {r['task']['id']: r for r in load(LC_RECHECK)}
    main_lc = R.by_id['LC']
    same = sum(r['answer'] == main_lc[i]['answer'] for i, r in lc.items())
    tps = lambda r: r['stats']['decode_tokens_per_s']
    out = [f'LC re-run in the later sessions on {len(lc)} of these instances (the same answer on {same}): its decode speed '
           'over the main sweep\'s, and the later rows\' speedups against that re-run LC:', '',
           '| | 1K | 2K | 4K |', '|---|---|---|---|',
           '| LC, later sessions / main sweep | ' + ' | '.join(
               ci([tps(r) / tps(main_lc[i]) for i, r in lc.items() if r['task']['ctx_tokens'] == c], 1, 2, 'x') for c in CTXS) + ' |']
    for k, rows in later.items():
        cells = [ci([tps(r) / tps(lc[i]) for i, r in rows.items() if i in lc and r['task']['ctx_tokens'] == c], 1, 2, 'x')
                 for c in CTXS]
        out.append(f'| {k}, vs the later LC | ' + ' | '.join(cells) + ' |')
    return out


def table_upward(_):
    rows = load(UPWARD)
    groups = collections.defaultdict(list)
    for r in rows:
        groups[method_name(r['config'])].append(r)
    lc = groups['LC']
    tps = ' / '.join(f"{mean([r['stats']['decode_tokens_per_s'] for r in lc if r['task']['ctx_tokens'] == c]):.1f}"
                     for c in (2048, 4096))
    out = [f'{len(lc)} instances per configuration:', '',
           '| method | contains answer | token F1 | acceptance | tau | speedup vs LC | speedup 2K / 4K |', '|---|---|---|---|---|---|---|']
    for k in sorted(groups, key=lambda k: (k != 'LC', eta_of(k))):
        rs = groups[k]
        label = {'LC': 'LC (0.5B)', 'RAPID eta 0': 'SD = RAPID eta 0 (1.5B drafter)'}.get(k, k)
        speed = f'1.00x ({tps} tok/s at 2K / 4K)' if k == 'LC' else ci([r['speedup'] for r in rs], 1, 2, 'x')
        acc = ci(acceptances(rs), 100, 0, ' %') if k != 'LC' else '-'
        by_ctx = ' / '.join(f"{mean([r['speedup'] for r in rs if r['task']['ctx_tokens'] == c]):.2f}x" for c in (2048, 4096))
        tau = '1' if k == 'LC' else f"{mean([r['stats']['tau'] for r in rs]):.2f}"
        out.append(f"| {label} | {ci([r['scores']['contains'] for r in rs])} | {ci([r['scores']['f1'] for r in rs])} | "
                   f'{acc} | {tau} | {speed} | {by_ctx} |')
    by = {k: {r['task']['id']: r for r in rs} for k, rs in groups.items()}
    rapid = sorted((k for k in groups if k.startswith('RAPID') and k != 'RAPID eta 0'), key=eta_of)
    out += ['', 'Paired, on the same instances:', ''] + PAIRED_HEAD
    out.append(paired_row('SD = RAPID eta 0', 'LC (0.5B)', by['RAPID eta 0'], by['LC']))
    out += [paired_row(k, 'LC (0.5B)', by[k], by['LC']) for k in rapid]
    out += [paired_row(k, 'SD = RAPID eta 0', by[k], by['RAPID eta 0']) for k in rapid]
    exact = ('exact match', lambda r: r['scores']['exact_match'])
    out += [''] + kinds_table('Per task kind', groups, [('LC', 'LC (0.5B)'), ('RAPID eta 0', 'SD')] + [(k, k) for k in rapid], (('contains', contains), exact))
    return out


def table_speed_v2(_):
    """The verification-kernel rerun: speedup over LC per length, acceptance and tau per method."""
    rows = load(KERNELS_V2)
    groups = collections.defaultdict(list)
    for r in rows:
        c = r['config']
        label = method_name(c) + {'': '', 'self': ' (self, RAG)'}.get(c['drafter'], ' (0.5B, RAG)')
        groups[label].append(r)
    order = ['RAG', 'SD (0.5B, RAG)', 'RAPID eta 10 (0.5B, RAG)', 'prompt lookup', 'SD (self, RAG)', 'RAPID eta 10 (self, RAG)']
    counts = {k: len(groups[k]) for k in ['LC'] + order}
    out = list(SPEED_HEAD) + [speed_row(k, groups[k], k == 'RAG') for k in order]
    return out + ['', lc_rates(groups['LC']) + '; instances per method: ' + ', '.join(f'{k} {v}' for k, v in counts.items()) + '.']


def table_long(_):
    """The long-context sweep: speedup over LC per length, contains-answer, acceptance, tau and instances per method."""
    rows = load(LONG_F16)
    ctxs = sorted({r['task']['ctx_tokens'] for r in rows})
    groups = collections.defaultdict(list)
    for r in rows:
        c = r['config']
        label = method_name(c) + {'': '', 'self': ' (self, RAG)'}.get(c['drafter'], ' (0.5B, RAG)')
        groups[label].append(r)
    order = [k for k in ['LC', 'RAG', 'SD (0.5B, RAG)', 'RAPID eta 10 (0.5B, RAG)', 'SD (self, RAG)', 'RAPID eta 10 (self, RAG)',
                         'prompt lookup', 'MagicDec'] if k in groups]
    if set(groups) - set(order):
        raise SystemExit(f'{LONG_F16}: rows of unexpected configurations {sorted(set(groups) - set(order))}')
    k_label = lambda c: f'{c // 1024}K'
    out = ['| method (drafter) | ' + ' | '.join(f'speedup {k_label(c)}' for c in ctxs) +
           f" | contains answer | acceptance | tau | instances {' / '.join(k_label(c) for c in ctxs)} |",
           '|---|' + '---|' * len(ctxs) + '---|---|---|---|']
    for k in order:
        rs = groups[k]
        cells = [ci([r['speedup'] for r in rs if r['task']['ctx_tokens'] == c], 1, 2, 'x') for c in ctxs]
        acc = acceptances(rs)
        tau = f"{mean([r['stats']['tau'] for r in rs]):.2f}" if k not in ('LC', 'RAG') else '1'
        n = ' / '.join(str(sum(r['task']['ctx_tokens'] == c for r in rs)) for c in ctxs)
        out.append(f'| {k} | ' + ' | '.join(cells) + f" | {ci([contains(r) for r in rs])} | {ci(acc, 100, 0, ' %') if acc else '-'} | {tau} | {n} |")
    lc = groups['LC']
    rates = ' / '.join(f"{mean([r['stats']['decode_tokens_per_s'] for r in lc if r['task']['ctx_tokens'] == c]):.1f}" for c in ctxs)
    return out + ['', f"LC tokens/s at {' / '.join(k_label(c) for c in ctxs)}: {rates}."]


def prefill_seconds(rs):
    """Mean target prefill time of records rs that ran one (a prefill restored from a snapshot records 0)."""
    ran = [r['target_long_prefill_seconds'] for r in rs if r['target_long_prefill_seconds'] > 0]
    return f'{mean(ran):.0f} ({len(ran)} timed)' if ran else '-'


def table_long_cache(_):
    """LC and RAPID (0.5B) with the F16 cache and each other cache that has a results file, on the
    instances that file holds: speeds, speedup, acceptance, answers, and the decode-speed ratio to
    F16 paired per instance."""
    out = []
    for path in LONG_CACHES:
        alt = load(path) if path.exists() else []
        if alt:
            out += ([''] if out else []) + cache_block(path, alt)
    return out or ['(no runs with another cache yet)']


def cache_block(path, alt):
    """table_long_cache's rows for one other cache: alt, the records of path, beside LONG_F16's."""
    cache = alt[0]['config']['kv']
    ids = {r['task']['id'] for r in alt}
    key = lambda r: (r['task']['id'], r['config']['method'])
    by = {'f16': {key(r): r for r in load(LONG_F16) if r['task']['id'] in ids and r['config']['drafter'] != 'self'},
          cache: {key(r): r for r in alt}}
    if any(r['config']['kv'] != cache for r in alt) or {m for _, m in by[cache]} != {'lc', 'rapid'}:
        raise SystemExit(f'{path}: expected LC and RAPID rows with one cache type')
    missing = sorted(k for k in by[cache] if k not in by['f16'])
    if missing:
        raise SystemExit(f'{path}: no F16 record for {missing[0]} in {LONG_F16}')
    keys = {m: sorted(k for k in by[cache] if k[1] == m) for m in ('lc', 'rapid')}  # the same instances in both
    tps = lambda r: r['stats']['decode_tokens_per_s']
    where = sorted({f"{r['task']['kind'].replace('_', ' ')} d{r['task']['depth']:.2f}" for r in alt})
    lengths = ' / '.join(f'{c // 1024}K' for c in sorted({r['task']['ctx_tokens'] for r in alt}))
    out = [f"{cache.upper()} beside F16 on {len(ids)} instances at {lengths} ({', '.join(where)}; index 0):", '',
           '| cache | LC tok/s | RAPID tok/s | RAPID speedup vs LC | acceptance | tau | contains answer LC / RAPID | target prefill s |',
           '|---|---|---|---|---|---|---|---|']
    for c in ('f16', cache):
        lc, ra = ([by[c][k] for k in keys[m]] for m in ('lc', 'rapid'))
        out.append(f"| {c.upper()} | {ci([tps(r) for r in lc], 1, 1)} | {ci([tps(r) for r in ra], 1, 1)} | "
                   f"{ci([r['speedup'] for r in ra], 1, 2, 'x')} | {ci(acceptances(ra), 100, 0, ' %')} | "
                   f"{mean([r['stats']['tau'] for r in ra]):.2f} | {ci([contains(r) for r in lc])} / {ci([contains(r) for r in ra])} | "
                   f"{prefill_seconds(lc)} |")
    ratio = {m: [tps(by[cache][k]) / tps(by['f16'][k]) for k in ks] for m, ks in keys.items()}
    same = {m: sum(by[cache][k]['answer'] == by['f16'][k]['answer'] for k in ks) for m, ks in keys.items()}
    # Pooled: all tokens over all decode seconds, so a 3-token answer weighs 3 tokens, not one instance.
    pooled = lambda c, m: (sum(by[c][k]['stats']['emitted'] for k in keys[m]) /
                           sum(by[c][k]['stats']['decode_seconds'] for k in keys[m]))
    return out + ['', f"{cache.upper()} over F16, paired per instance: LC decode {ci(ratio['lc'], 1, 2, 'x')}, RAPID decode "
                      f"{ci(ratio['rapid'], 1, 2, 'x')}; pooled over tokens (tokens / decode seconds): LC "
                      f"{pooled(cache, 'lc'):.1f} vs {pooled('f16', 'lc'):.1f} tok/s ({pooled(cache, 'lc') / pooled('f16', 'lc'):.2f}x), "
                      f"RAPID {pooled(cache, 'rapid'):.1f} vs {pooled('f16', 'rapid'):.1f} tok/s "
                      f"({pooled(cache, 'rapid') / pooled('f16', 'rapid'):.2f}x); the same answer as with F16: LC {same['lc']} of "
                      f"{len(ratio['lc'])}, RAPID {same['rapid']} of {len(ratio['rapid'])}."]


def table_gamma_v2(_):
    """The rerun's gamma axis: RAPID eta 10 with the 0.5B drafter at 2K, paired with its own LC."""
    by_gamma = collections.defaultdict(list)
    for r in load(KERNELS_V2_GAMMA):
        if r['config']['method'] == 'rapid':
            by_gamma[r['config']['gamma']].append(r)
    out = ['| gamma | instances | speedup vs LC | tau | acceptance |', '|---:|---:|---|---:|---|']
    for g, rs in sorted(by_gamma.items()):
        out.append(f"| {g} | {len(rs)} | {ci([r['speedup'] for r in rs], 1, 2, 'x')} | {mean([r['stats']['tau'] for r in rs]):.2f} | "
                   f"{ci(acceptances(rs), 100, 0, ' %')} |")
    return out


def built(tool):
    """The cost_projection program as a path, or exit saying how to build it."""
    tool = pathlib.Path(tool)
    if not tool.exists():
        raise SystemExit(f'{tool} is missing: build the project first (cmake --build build)')
    return tool


def curve(tool=COST_PROJECTION):
    """Writes CURVE_DIR/speedup_vs_context.png: every method's measured speedup over LC from 1K to the
    longest swept length, and the cost model's prediction for each configuration from its measured
    tau (extrapolated to 128K from the longest length), with this VM's machine numbers."""
    tool = built(tool)
    CURVE_DIR.mkdir(exist_ok=True)
    predictions = []
    for results, extra in ((KERNELS_V2, []), (LONG_F16, LONG_MAGICDEC + ['--extrapolate', '32768,65536,131072'])):
        out = CURVE_DIR / f'model_{results.stem}.jsonl'
        subprocess.run([str(tool), '--results', str(results), *COST_ARGS_V2, *extra, '--predictions', str(out)],
                       capture_output=True, text=True, check=True)
        predictions += ['--predictions', str(out)]
    subprocess.run([sys.executable, str(ROOT / 'scripts/plot_results.py'), str(KERNELS_V2), str(LONG_F16), *predictions,
                    '--plots', 'speedup', '-o', str(CURVE_DIR)], check=True)


def table_cost_v2(_, tool=COST_PROJECTION):
    return table_cost(_, tool, KERNELS_V2, COST_ARGS_V2)


def table_cost_long(_, tool=COST_PROJECTION):
    return table_cost(_, tool, LONG_F16, COST_ARGS_V2 + LONG_MAGICDEC)


def table_cost(_, tool=COST_PROJECTION, results=MAIN, cost_args=COST_ARGS):
    tool = built(tool)
    text = subprocess.run([str(tool), '--results', str(results)] + cost_args, capture_output=True, text=True, check=True).stdout
    block = text[text.index('| configuration | ctx | runs | tau'):]
    lines = []
    for line in block.split('\n'):
        if not line.startswith('|'):
            break
        lines.append(line.replace('qwen2.5-coder-0.5b.gguf', '0.5B'))
    summary = re.search(r'Largest \|error\| .*', block).group(0)
    return lines + ['', summary]


TABLES = {'speed': table_speed, 'quality': table_quality, 'kinds': table_kinds, 'paired': table_paired,
          'gamma': table_gamma, 'budget': table_budget, 'self': table_self, 'upward': table_upward, 'cost': table_cost,
          'speed_v2': table_speed_v2, 'cost_v2': table_cost_v2, 'gamma_v2': table_gamma_v2, 'long': table_long,
          'cost_long': table_cost_long, 'long_cache': table_long_cache}


def render(page, R, tables):
    def replace(m):
        name = m.group(1)
        if name not in tables:
            raise SystemExit(f'unknown table marker {name!r} in {PAGE}')
        return f'<!-- table:{name} -->\n' + '\n'.join(tables[name](R)) + f'\n<!-- /table:{name} -->'
    return re.sub(r'<!-- table:(\w+) -->.*?<!-- /table:\1 -->', replace, page, flags=re.S)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--print', dest='name', choices=sorted(TABLES), help='print one table and exit')
    ap.add_argument('--check', action='store_true', help='exit 1 if docs/results.md differs from the records')
    ap.add_argument('--cost-projection', help=f'the cost_projection program (default {COST_PROJECTION})')
    ap.add_argument('--curve', action='store_true', help=f'redraw the speedup-vs-context plot in {CURVE_DIR.relative_to(ROOT)} and exit')
    args = ap.parse_args()
    tool = args.cost_projection or COST_PROJECTION
    if args.curve:
        curve(tool)
        return 0
    tables = dict(TABLES, cost=functools.partial(table_cost, tool=tool), cost_v2=functools.partial(table_cost_v2, tool=tool),
                  cost_long=functools.partial(table_cost_long, tool=tool))
    R = Records(load(MAIN))
    if args.name:
        print('\n'.join(tables[args.name](R)))
        return 0
    page = PAGE.read_text()
    new = render(page, R, tables)
    if args.check:
        if new != page:
            print(f'{PAGE} is out of date: run python3 scripts/results_tables.py', file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    return 0


if __name__ == '__main__':
    sys.exit(main())
