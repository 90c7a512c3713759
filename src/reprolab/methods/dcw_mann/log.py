"""Event logs as the method reads them, prefix/suffix pairs, and the case-level split.

An `EventLog` holds one trace per case (activity ids 1..A in time order) and its event times. It comes from
- the five real CSV logs (`load_log(name)`; columns `CaseID,ActivityID,CompleteTimestamp`), or any CSV of that form
  (`read_csv`),
- a pandas event log with the XES standard columns `case:concept:name`, `concept:name`, `time:timestamp`, as
  `pm4py.read_xes(...)` returns it, or with any other column names (`from_dataframe`; pm4py itself is an optional
  extra, `reprolab[xes]`).
Case order: a CSV keeps its file order (cases by first appearance: Tax et al.'s order, the one the reference numbers
were measured in); a DataFrame's cases are ordered by their first timestamp, ties by case id, so the order (and the
split that follows it) does not depend on the order of the rows. Events are sorted by time within a case with a
stable sort: equal timestamps keep their row order (as pm4py keeps the file's order), or follow the activity
(`equal_times="activity"`), which does not depend on the rows' order.
Pairs [official code]: every case of length >= 2 gives (prefix = first k events, suffix = the rest) for
k = min_prefix_len .. len - 1 (default 1, the prototype's; Tax et al. score k >= 2). Cases of one event give no pair
and are counted. Split (Tax et al.): the first 2/3 of the cases train, the last 1/3 test, in file order (the order the
reference numbers were measured in) or by case start time (`order="time"`); validation = the last 10% of the
training cases (a design choice: the official code has no validation set and selects on test).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from reprolab.data.eventlogs import event_log_file
from reprolab.runtime.config import check_choice

CSV_COLUMNS = ("CaseID", "ActivityID", "CompleteTimestamp")
XES_COLUMNS = ("case:concept:name", "concept:name", "time:timestamp")
SplitOrder = Literal["file", "time"]
CaseOrder = Literal["rows", "start"]
EqualTimes = Literal["row", "activity"]


@dataclasses.dataclass(frozen=True)
class EventLog:
    """An event log as the method reads it: one trace per case (activity ids 1..A in time order), the event times
    (seconds since 1970-01-01 UTC), the activity labels (the label of id k is `activities[k - 1]`) and the case
    ids. Made by `load_log`, `read_csv` or `from_dataframe`."""

    name: str
    traces: tuple[tuple[int, ...], ...]     # activity ids 1..A per case, in time order
    times: tuple[np.ndarray, ...]           # event times per case, seconds since 1970-01-01 UTC (float64)
    activities: tuple[Any, ...]             # the log's label of activity id k is activities[k - 1]
    case_ids: tuple[Any, ...]               # the log's id of each case

    @property
    def num_activities(self) -> int:
        return len(self.activities)

    @property
    def single_event_cases(self) -> int:
        return sum(len(t) < 2 for t in self.traces)

    def ids_of(self, labels: Sequence[Any]) -> tuple[int, ...]:
        """Activity ids of a sequence of the log's activity labels."""
        return label_ids(self.activities, labels, self.name)

    def labels_of(self, ids: Sequence[int]) -> list[Any]:
        return [self.activities[i - 1] for i in ids]

    def stats(self) -> dict[str, Any]:
        lengths = [len(t) for t in self.traces]
        return {"cases": len(self.traces), "events": int(sum(lengths)), "activities": self.num_activities,
                "variants": len(set(self.traces)), "max_length": max(lengths),
                "mean_length": round(float(np.mean(lengths)), 2), "single_event_cases": self.single_event_cases}


def label_ids(activities: Sequence[Any], labels: Sequence[Any], log_name: str) -> tuple[int, ...]:
    """Activity ids (1..A) of `labels` in the vocabulary `activities` (the label of id k is activities[k - 1])."""
    index = {label: i + 1 for i, label in enumerate(activities)}
    unknown = [label for label in labels if label not in index]
    if unknown:
        raise ValueError(f"activity {unknown[0]!r} does not occur in log {log_name!r} "
                         f"(known: {list(activities)[:10]}{' ...' if len(index) > 10 else ''})")
    return tuple(index[label] for label in labels)


def epoch_seconds(stamps: Any) -> np.ndarray:
    """Seconds since 1970-01-01 UTC of a tz-aware (UTC) datetime Series, whatever its unit: pandas parses
    timestamp strings to microseconds and keeps nanoseconds for datetime64[ns] input, so the int64 view of the
    Series is not in one fixed unit."""
    import pandas as pd

    return ((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def check_filled(values: Sequence[Any], column: str, name: str) -> None:
    """A ValueError naming `column` and counting its empty values (None, NaN)."""
    import pandas as pd

    empty = np.flatnonzero(pd.isna(pd.Series(values, dtype=object)).to_numpy())
    if len(empty):
        raise ValueError(f"log {name!r}: column {column!r} has {len(empty)} empty value(s) of {len(values)} (first "
                         f"in row {int(empty[0])})")


def parse_times(timestamps: Sequence[Any], column: str, name: str) -> np.ndarray:
    """Seconds since 1970-01-01 UTC (timestamps without a time zone are read as UTC); a ValueError naming `column`
    and counting the timestamps pandas cannot parse."""
    import pandas as pd

    check_filled(timestamps, column, name)
    parsed = pd.to_datetime(pd.Series(timestamps), utc=True, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise ValueError(f"log {name!r}: column {column!r}: {len(bad)} of {len(parsed)} timestamp(s) cannot be parsed "
                         f"(first: {timestamps[int(bad[0])]!r} in row {int(bad[0])}; pandas infers the format from the "
                         f"first value: convert the column with pandas.to_datetime(..., format=...) first)")
    return epoch_seconds(parsed)


def case_rows(case_ids: Sequence[Any], seconds: np.ndarray, order: CaseOrder, column: str, name: str
              ) -> dict[Any, list[int]]:
    """The rows of each case, the cases in order of first appearance ("rows") or of their first timestamp, ties by
    case id ("start")."""
    groups: dict[Any, list[int]] = {}
    for row, case in enumerate(case_ids):
        groups.setdefault(case, []).append(row)
    if order == "rows":
        return groups
    try:
        ordered = sorted(groups, key=lambda case: (seconds[groups[case]].min(), case))
    except TypeError as error:
        raise ValueError(f"log {name!r}: column {column!r} mixes case ids that cannot be ordered ({error})") from None
    return {case: groups[case] for case in ordered}


def from_columns(case_ids: Sequence[Any], activities: Sequence[Any], timestamps: Sequence[Any], name: str,
                 integer_ids: bool, remap_ids: bool = False, sort_events: bool = False, case_order: CaseOrder = "rows",
                 equal_times: EqualTimes = "row", columns: tuple[str, str, str] = CSV_COLUMNS) -> EventLog:
    """Group events by case (`case_rows`). Integer activity ids must be >= 1 (0 collides with PAD/EOS and GO after
    the +1 shift) unless `remap_ids` maps the distinct ids to 1..A; other labels always map to 1..A in sorted order.
    Timestamps must not decrease within a case unless `sort_events` orders each case by time: a stable sort, equal
    timestamps in row order, or by activity id (`equal_times="activity"`). Times are seconds since 1970-01-01 UTC.
    Errors name the column (`columns`: case, activity, timestamp)."""
    n = len(case_ids)
    if not (len(activities) == len(timestamps) == n) or n == 0:
        raise ValueError(f"log {name!r}: case, activity and timestamp columns {list(columns)} need the same non-zero "
                         f"length, got {n}, {len(activities)}, {len(timestamps)}")
    for values, column in zip((case_ids, activities), columns):
        check_filled(values, column, name)
    seconds = parse_times(timestamps, columns[2], name)
    labels = sorted(set(activities))
    if integer_ids:
        if labels[0] < 1 and not remap_ids:
            raise ValueError(f"log {name!r}: activity id {labels[0]} is below 1; ids must start at 1 (0 would collide "
                             f"with GO after the +1 shift), or pass remap_ids=True to map the ids to 1..A")
        if not remap_ids:
            labels = list(range(1, labels[-1] + 1))
    index = {label: i + 1 for i, label in enumerate(labels)}
    groups = case_rows(case_ids, seconds, case_order, columns[0], name)
    traces, times = [], []
    for case, rows in groups.items():
        t, ids = seconds[rows], np.array([index[activities[r]] for r in rows])
        if sort_events:
            order = np.lexsort((ids, t)) if equal_times == "activity" else np.argsort(t, kind="stable")
            t, ids = t[order], ids[order]
        elif np.any(np.diff(t) < 0):
            raise ValueError(f"log {name!r}: the timestamps of case {case!r} decrease (events out of time order);"
                             f" sort the log, or pass sort_events=True to order each case by time")
        traces.append(tuple(int(i) for i in ids))
        times.append(t)
    return EventLog(name, tuple(traces), tuple(times), tuple(labels), tuple(groups))


def read_csv(path: str | Path, name: str | None = None, remap_ids: bool = False,
             sort_events: bool = False) -> EventLog:
    """A CSV log with columns `CaseID,ActivityID,CompleteTimestamp` (integer activity ids)."""
    import pandas as pd

    path = Path(path)
    frame = pd.read_csv(path)
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; an event-log CSV needs {list(CSV_COLUMNS)}, found "
                         f"{list(frame.columns)} (SuffixPredictor.fit(path, case=..., activity=..., timestamp=...) "
                         f"reads other column names)")
    if not pd.api.types.is_integer_dtype(frame["ActivityID"]):
        raise ValueError(f"{path}: column 'ActivityID' must hold integer ids, got {frame['ActivityID'].dtype}")
    return from_columns(frame["CaseID"].tolist(), frame["ActivityID"].tolist(), frame["CompleteTimestamp"].tolist(),
                        name or path.stem, integer_ids=True, remap_ids=remap_ids, sort_events=sort_events)


def from_dataframe(frame: Any, name: str = "log", case_key: str = XES_COLUMNS[0], activity_key: str = XES_COLUMNS[1],
                   timestamp_key: str = XES_COLUMNS[2], sort_events: bool = True,
                   equal_times: EqualTimes = "row") -> EventLog:
    """A pandas event log: by default the XES standard columns (pm4py's `read_xes` output), or any columns named by
    the keys. Activities may be any labels (strings map to ids 1..A in sorted order). Cases are ordered by their
    first timestamp, ties by case id. pm4py sorts events by time, so `sort_events` defaults to True here: a stable
    sort within each case (`from_columns`)."""
    columns = (case_key, activity_key, timestamp_key)
    missing = [c for c in columns if c not in getattr(frame, "columns", ())]
    if missing:
        raise ValueError(f"event log {name!r}: missing column(s) {missing}; expected the columns {list(columns)} "
                         f"(case, activity, timestamp), found {list(getattr(frame, 'columns', []))}")
    acts = frame[activity_key].tolist()
    integer = all(isinstance(a, (int, np.integer)) for a in acts)
    return from_columns(frame[case_key].tolist(), acts, frame[timestamp_key].tolist(), name, integer_ids=integer,
                        remap_ids=integer, sort_events=sort_events, case_order="start", equal_times=equal_times,
                        columns=columns)


def load_log(name: str) -> EventLog:
    """One of the five real logs (checksum verified): helpdesk, bpi_12_w, bpi_12_w_no_repeat, bpi_13_incidents,
    env_permit."""
    return read_csv(event_log_file(name), name=name)


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Prefix/suffix pairs of activity ids, with the case each came from."""
    prefixes: tuple[tuple[int, ...], ...]
    suffixes: tuple[tuple[int, ...], ...]
    cases: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.prefixes)

    def subset(self, index: Sequence[int]) -> "Pairs":
        return Pairs(tuple(self.prefixes[i] for i in index), tuple(self.suffixes[i] for i in index),
                     tuple(self.cases[i] for i in index))


def make_pairs(log: EventLog, cases: Sequence[int], min_prefix_len: int = 1, max_case_len: int | None = None) -> Pairs:
    """Every (first k events, rest) of the given cases, k = min_prefix_len .. len - 1; `max_case_len` first cuts
    each case to its first events (the quick BPI'12 W run)."""
    if min_prefix_len < 1:
        raise ValueError(f"min_prefix_len must be >= 1, got {min_prefix_len}")
    prefixes, suffixes, origin = [], [], []
    for c in cases:
        trace = log.traces[c][:max_case_len]
        for k in range(min_prefix_len, len(trace)):
            prefixes.append(trace[:k])
            suffixes.append(trace[k:])
            origin.append(c)
    return Pairs(tuple(prefixes), tuple(suffixes), tuple(origin))


@dataclasses.dataclass(frozen=True)
class CaseSplit:
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]


def split_cases(log: EventLog, train_fraction: float = 2 / 3, val_fraction: float = 0.1,
                order: SplitOrder = "file") -> CaseSplit:
    """Cases, never prefixes, are split (a prefix-level split leaks cases): the first `train_fraction` of the
    cases in `order` train (the last `val_fraction` of them validate), the rest test."""
    check_choice("order", order, SplitOrder)
    if not (0 < train_fraction < 1 and 0 <= val_fraction < 1):
        raise ValueError(f"need 0 < train_fraction < 1 and 0 <= val_fraction < 1, got {train_fraction}, "
                         f"{val_fraction}")
    ids = list(range(len(log.traces)))
    if order == "time":
        ids.sort(key=lambda c: log.times[c][0])
    n_train = int(len(ids) * train_fraction)
    n_val = int(n_train * val_fraction)
    if n_train - n_val < 1 or n_train >= len(ids):
        raise ValueError(f"log {log.name!r} with {len(ids)} cases is too small to split")
    return CaseSplit(tuple(ids[:n_train - n_val]), tuple(ids[n_train - n_val:n_train]), tuple(ids[n_train:]))
