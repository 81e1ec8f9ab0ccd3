"""The build step of the learned classifier (domain/learned.py): train it on labelled reports
(the tuning part only) and write its file into domain/models, printing the digest a policy
names it by (`classification.learned`). A model file is never edited: a new model is a new
file, named by a new policy.

    make classifier NAME=needs-tune-555
    .venv/bin/python -m bench.train_classifier --out domain/models/NAME.json [--data FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from domain.learned import digest, dumps, train

TUNING = Path(__file__).resolve().parent.parent / "tests" / "data" / "needs_tune.yaml"


def labelled(path: Path) -> list[tuple[str, str, str]]:
    """(title, description, item) of every labelled report in `path`."""
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(c["title"], c.get("description") or "", c["expect"]["item"]) for c in cases]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train_classifier", description=__doc__)
    parser.add_argument("--data", type=Path, default=TUNING, help="labelled reports (YAML)")
    parser.add_argument("--out", type=Path, required=True, help="domain/models/NAME.json")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists: a model file is never rewritten, choose a new name")
    raw = dumps(train(labelled(args.data)))
    args.out.write_bytes(raw)
    print(f'{args.out}: {len(raw)} bytes; in the policy: sha256: "{digest(raw)}" (quoted)')


if __name__ == "__main__":
    main()
