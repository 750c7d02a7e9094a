"""Dates of the time splits, defined once: month arithmetic and the high-need snapshot plan."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, _month_end(year, month).day))


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


@dataclass(frozen=True)
class SnapshotPlan:
    """As-of dates of member snapshots for a 12-month-ahead label.

    ``test``: the latest snapshot whose label window [test, test + 12 months) closes by the run's
    as-of. ``calibration``: the snapshot 12 months earlier, whose label window ends where the test
    window starts. ``train``: quarterly snapshots up to and including the calibration date, from the
    first with ``min_history_months`` of data (12 by default: the features look back 365 days), so
    every training label window closes by the test as-of. Training and calibration rows come from
    disjoint members (``calibration_share`` of members, by a stable hash of person_id, are held out
    of every training snapshot): their label windows overlap, and trees fitted on a member's
    overlapping outcome make the calibration slice look better than the test (on 100k demo members:
    calibration AUROC 0.905 vs test 0.864). ``score``: the run's as-of (no label).
    """

    train: tuple[dt.date, ...]
    calibration: dt.date
    test: dt.date
    score: dt.date
    label_months: int
    calibration_share: float = 0.2

    def as_dict(self) -> dict[str, str]:
        return {
            "train_as_of_dates": ",".join(d.isoformat() for d in self.train),
            "calibration_as_of_date": self.calibration.isoformat(),
            "test_as_of_date": self.test.isoformat(),
            "score_as_of_date": self.score.isoformat(),
            "label_months": str(self.label_months),
            "calibration_share": str(self.calibration_share),
            "rule": "label window [as_of, as_of + 12 months); training and calibration windows end by the test "
                    "as-of; calibration members (sha256(person_id) mod 1000 < share x 1000) never in training",
        }

    def all_dates(self) -> list[dt.date]:
        return sorted({*self.train, self.calibration, self.test, self.score})


def high_need_snapshots(
    as_of: dt.date, data_start: dt.date, label_months: int = 12, step_months: int = 3, min_history_months: int = 12,
    calibration_share: float = 0.2,
) -> SnapshotPlan:
    """Plan snapshots for a run at ``as_of`` on data starting ``data_start`` (see ``SnapshotPlan``)."""
    test = add_months(first_of_month(as_of), -label_months)
    if add_months(test, label_months) > as_of:
        test = add_months(test, -1)
    calibration = add_months(test, -label_months)
    earliest = add_months(first_of_month(data_start), min_history_months)
    train: list[dt.date] = []
    day = calibration
    while day >= earliest:
        train.append(day)
        day = add_months(day, -step_months)
    if not train:
        from models.training import InsufficientTrainingData

        raise InsufficientTrainingData(
            f"high-need split: data from {data_start.isoformat()} to {as_of.isoformat()} leaves no training snapshot "
            f"({min_history_months} months of history, then a {label_months}-month label before the test snapshot at "
            f"{test.isoformat()}); need about {min_history_months + 2 * label_months} months of data"
        )
    return SnapshotPlan(train=tuple(sorted(train)), calibration=calibration, test=test, score=as_of,
                        label_months=label_months, calibration_share=calibration_share)


def calibration_members(person_ids: list[str], share: float) -> set[str]:
    """The members held out for calibration: a stable hash (sha256, not Python's salted hash), so
    the same member lands on the same side in every run and snapshot."""
    cut = calibration_cut(share)
    return {p for p in person_ids if int(hashlib.sha256(p.encode()).hexdigest()[:8], 16) % 1000 < cut}


def calibration_cut(share: float) -> int:
    """A member is held out when the first 8 hex digits of sha256(person_id), mod 1000, fall below
    this (``calibration_members``; ``models.spark_score.high_need_parts_spark`` applies it in Spark SQL)."""
    return int(round(share * 1000))
