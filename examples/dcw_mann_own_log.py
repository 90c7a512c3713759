"""DCw-MANN on your own event log: a CSV with its own column names and string activities. Trains briefly, saves
the predictor to one file, loads it back and prints the predicted rest of three running cases (cases whose last
activity is not an end activity).

    python examples/dcw_mann_own_log.py                     # writes a small demo CSV from the Helpdesk log first
    python examples/dcw_mann_own_log.py my_log.csv --case ticket --activity step --timestamp time --end Closed

Without --end, the end activity is the one that ends most cases. The demo CSV holds the first --cases Helpdesk
cases with renamed columns (ticket, step, logged_at) and activities ("Activity A" ... "Activity I"); the last
fifth of them lose their last event, so they are still running. --iterations (300 here, against the library's 800)
keeps the run short: a model trained this briefly is a demonstration, not a tuned predictor.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd

from reprolab.methods.dcw_mann import SuffixPredictor, TrainConfig, from_dataframe, load_log

DEMO_COLUMNS = ("ticket", "step", "logged_at")


def demo_csv(folder: Path, cases: int) -> Path:
    """The first `cases` Helpdesk cases with renamed columns and activities; the last fifth lose their last event."""
    log = load_log("helpdesk")
    name = {a: f"Activity {chr(ord('A') + a - 1)}" for a in range(1, log.num_activities + 1)}
    rows = []
    for c in range(min(cases, len(log.traces))):
        events = list(zip(log.traces[c], log.times[c]))
        if c >= cases - cases // 5:
            events = events[:-1]
        rows += [(f"ticket-{c}", name[a], pd.Timestamp(t, unit="s").isoformat()) for a, t in events]
    path = folder / "helpdesk_renamed.csv"
    pd.DataFrame(rows, columns=list(DEMO_COLUMNS)).to_csv(path, index=False)
    return path


def most_common_end(frame: pd.DataFrame, case: str, activity: str, timestamp: str) -> str:
    log = from_dataframe(frame, case_key=case, activity_key=activity, timestamp_key=timestamp)
    return Counter(log.activities[trace[-1] - 1] for trace in log.traces).most_common(1)[0][0]


def run(args: argparse.Namespace, folder: Path) -> None:
    path = args.csv or demo_csv(folder, args.cases)
    columns = dict(case=args.case, activity=args.activity, timestamp=args.timestamp)
    frame = pd.read_csv(path)
    end = args.end or [most_common_end(frame, args.case, args.activity, args.timestamp)]
    print(f"log {path.name}: {len(frame)} events; end activities {end}")
    predictor = SuffixPredictor(variant="dcw_mann", training=TrainConfig(iterations=args.iterations), seed=0)
    predictor.fit(frame, end_activities=end, **columns)
    s = predictor.summary
    print(f"trained on {s['training_pairs']} prefix/suffix pairs of the finished cases ({s['running_cases']} running "
          f"case(s) left out, {s['single_event_cases']} one-event case(s)); {s['iterations']} iterations of batch "
          f"{s['batch_size']} = {s['epochs']:.1f} epochs; {s['suffixes_longer_than_max_decode']} suffix(es) longer "
          f"than max_decode = {s['max_decode']}")
    saved = predictor.save(folder / "dcw_mann_predictor.pt")
    loaded = SuffixPredictor.load(saved)
    print(f"saved and loaded {saved.name}")
    running = dict(list(predictor.running.items())[:3])
    if not running:
        print("no running case: every case ends with an end activity")
    suffixes = loaded.predict(list(running.values()))
    proba = loaded.predict_proba(list(running.values()))
    for (case, prefix), suffix, p in zip(running.items(), suffixes, proba):
        nxt = loaded.classes_[p.argmax()]
        print(f"{case}: {' > '.join(prefix)}  =>  {' > '.join(suffix) or '(end)'}  "
              f"[next: {nxt or '(end)'}, p = {p.max():.2f}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="DCw-MANN suffix prediction on your own event-log CSV")
    parser.add_argument("csv", type=Path, nargs="?", help="the log (default: a demo CSV from the Helpdesk log)")
    for key, default in zip(("case", "activity", "timestamp"), DEMO_COLUMNS):
        parser.add_argument(f"--{key}", default=default, help=f"the {key} column (default {default})")
    parser.add_argument("--end", nargs="+", help="end activities (default: the one that ends most cases)")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--cases", type=int, default=600, help="cases in the demo CSV")
    parser.add_argument("--out", type=Path, help="folder for the demo CSV and the saved model (default: temporary)")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.out or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            run(args, folder)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
