"""Ablation table: each answer rule switched off in turn, on the dev and frozen splits.

    .venv/bin/python eval/ablation.py                      # all configurations, both splits
    .venv/bin/python eval/ablation.py --only none,amount_date --splits dev
    .venv/bin/python eval/ablation.py --table              # print the table from saved reports
    .venv/bin/python eval/ablation.py --splits frozen --none-report eval/results/frozen-s8.json
        # the "none" row from a full `rag eval --reuse-generations eval/results/generations.sqlite`
        # run of the same code (its generations are reused by the other configurations)

Each configuration is one `rag eval --split S --no-baselines` run with RAG_RULES_OFF set
(rag/settings.py lists the rule names); reports go to eval/results/ablation-<config>-<split>.json.
All runs share one file of generations (eval/results/generations.sqlite, `--reuse-generations`):
decoding is greedy, so a prompt that a rule leaves unchanged gets the answer it got before, and
only the prompts the rule changes are generated. The first configuration of a split takes about
30 minutes on a 2-core machine, each further one a few minutes. The table therefore shows no
latency: reused answers took no time.
The frozen split is only scored here, never read: a rule stays if it helps on dev and the
frozen split does not show it costing more than it gains.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "eval" / "results"
MEMO = RESULTS / "generations.sqlite"
CONFIGS = ["none", "amount_date", "margin", "whole_items", "grounding",
           "closest_says", "parts", "timeline", "schedule", "restates", "quote_rescue", "reported_later",
           "names", "named_time", "presupposes"]


def report_path(config: str, split: str) -> Path:
    return RESULTS / f"ablation-{config}-{split}.json"


def run(config: str, split: str, memo: Path = MEMO) -> None:
    env = dict(os.environ, RAG_RULES_OFF="" if config in ("none", "margin") else config)
    if config == "margin":   # passages far behind the best one are kept, not dropped
        env["RAG_RELEVANCE_MARGIN"] = "9"
    cmd = [str(ROOT / ".venv" / "bin" / "rag"), "eval", "--split", split, "--no-baselines",
           "--reuse-generations", str(memo), "--out", str(report_path(config, split))]
    print(f"== rules off: {config or 'none'}; split {split}", flush=True)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)


def table(configs: list[str], splits: list[str]) -> str:
    head = ["rule switched off"] + [f"{s} {m}" for s in splits
                                    for m in ("acc", "bundled", "other", "ans. declined", "unans. declined")]
    rows = [" | ".join(head), " | ".join("---" for _ in head)]
    for config in configs:
        cells = [config]
        for split in splits:
            path = report_path(config, split)
            if not path.exists():
                cells += ["-"] * 5
                continue
            m = json.loads(path.read_text())["systems"]["default model"]
            by = m.get("by_source", {})
            cells += [f"{v:.3f}" if v is not None else "-" for v in
                      (m["accuracy"], by.get("samples"), by.get("other"), m["answerable_declined"],
                       m["abstention_recall"])]
        rows.append(" | ".join(cells))
    return "\n".join("| " + r + " |" for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated configurations (default: all)")
    ap.add_argument("--splits", default="dev,frozen")
    ap.add_argument("--table", action="store_true", help="only print the table from saved reports")
    ap.add_argument("--memo", type=Path, default=MEMO,
                    help="the generations file the configurations share (default: %(default)s); give the "
                         "one the --none-report run wrote, so that only the prompts a rule changes are generated")
    ap.add_argument("--none-report", metavar="FILE",
                    help="a report of the same code with all rules on (one split), used as the 'none' row")
    args = ap.parse_args()
    configs = args.only.split(",") if args.only else CONFIGS
    splits = args.splits.split(",")
    if args.none_report:
        if len(splits) != 1:
            ap.error("--none-report is one split's report: give --splits with one split")
        report_path("none", splits[0]).write_text(Path(args.none_report).read_text())
    if not args.table:
        for config in configs:
            for split in splits:
                if not (config == "none" and args.none_report):
                    run(config, split, args.memo)
    print(table(configs, splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
