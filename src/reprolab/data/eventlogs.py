"""The five real event logs (Tax et al. 2017's preprocessed CSV copies: `CaseID,ActivityID,CompleteTimestamp`,
integer activity ids from 1, events in case order). The underlying logs are published under CC BY 4.0: Helpdesk on
Mendeley Data, the BPI Challenge logs on 4TU.ResearchData."""

from __future__ import annotations

from pathlib import Path

from reprolab.data.files import DataFile

_SOURCE = "https://github.com/verenich/ProcessSequencePrediction (data/{name}.csv)"
EVENT_LOGS = {name: DataFile(f"eventlogs/{name}.csv", sha256, _SOURCE.format(name=name)) for name, sha256 in {
    "helpdesk": "1306e06414481a1debd845ea760b5ce8331d087ddc67d7f7ec300b4bea3f41b7",
    "bpi_12_w": "11a936ee00eb159df7c971da7f12209ed395b71398e53c21ed4883cd0fe3be4d",
    "bpi_12_w_no_repeat": "8fdc6263037647cd3f8fc574f99ceca6317a04848cd111f8a36f2f35ec649675",
    "bpi_13_incidents": "8b0d8d03235edc8085e1620365bc8eaf9b7db0f8b5f022fbaaa93104c33c902e",
    "env_permit": "ae43bc542b6dd090e1fd159ac03e4a4672ddd86360fc93eb327829d033d7dc89",
}.items()}


def event_log_file(name: str) -> Path:
    """The verified CSV of one of the five logs."""
    if name not in EVENT_LOGS:
        raise ValueError(f"unknown event log {name!r}; choose from {sorted(EVENT_LOGS)}")
    return EVENT_LOGS[name].verified_path()[0]
