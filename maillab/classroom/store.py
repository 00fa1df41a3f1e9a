"""The room's memory in SQLite: the chosen set, the students, their answers.

Every write is committed before the reply goes out, so stopping the app at
any moment loses no answer a student has seen graded.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .room import Answer

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS students (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    session_digest TEXT NOT NULL UNIQUE,
    csrf TEXT NOT NULL,
    seed INTEGER NOT NULL,
    joined REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    student_id TEXT NOT NULL REFERENCES students(id),
    scenario TEXT NOT NULL,
    choice INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    answered REAL NOT NULL,
    PRIMARY KEY (student_id, scenario)
);
"""


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    csrf: str
    seed: int


class Store:
    """One room's database file in the data directory."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "classroom.sqlite3"
        self._db = sqlite3.connect(self.path, timeout=5.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    # region: the room

    def current_set(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key='set'").fetchone()
        return row[0] if row else None

    def choose_set(self, name: str) -> None:
        with self._db:
            self._db.execute("INSERT INTO meta(key, value) VALUES('set', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                             (name,))

    # endregion
    # region: students

    def count_students(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM students").fetchone()[0])

    def add_student(self, student: Student, session_digest: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO students(id, name, session_digest, csrf, seed, joined)"
                " VALUES(?, ?, ?, ?, ?, ?)",
                (student.id, student.name, session_digest, student.csrf,
                 student.seed, time.time()))

    def student_by_session(self, session_digest: str) -> Student | None:
        row = self._db.execute(
            "SELECT id, name, csrf, seed FROM students WHERE session_digest=?",
            (session_digest,)).fetchone()
        return Student(*row) if row else None

    def students(self) -> list[Student]:
        rows = self._db.execute(
            "SELECT id, name, csrf, seed FROM students ORDER BY joined, name")
        return [Student(*r) for r in rows]

    # endregion
    # region: answers

    def record(self, student_id: str, answer: Answer) -> bool:
        """Store a first answer; ``False`` if the student had answered already."""
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO answers(student_id, scenario, choice, correct, "
                    "answered) VALUES(?, ?, ?, ?, ?)",
                    (student_id, answer.scenario, answer.choice, int(answer.correct),
                     time.time()))
        except sqlite3.IntegrityError:
            return False
        return True

    def answers(self, student_id: str) -> dict[str, Answer]:
        rows = self._db.execute(
            "SELECT scenario, choice, correct FROM answers WHERE student_id=?",
            (student_id,))
        return {r[0]: Answer(r[0], r[1], bool(r[2])) for r in rows}

    def all_answers(self) -> dict[str, dict[str, Answer]]:
        found: dict[str, dict[str, Answer]] = {}
        for sid, scenario, choice, correct in self._db.execute(
                "SELECT student_id, scenario, choice, correct FROM answers"):
            found.setdefault(sid, {})[scenario] = Answer(scenario, choice,
                                                         bool(correct))
        return found

    # endregion
