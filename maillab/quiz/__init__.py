"""Knowledge checks: exercise sets, grading, ordering and the terminal quiz."""

from .grading import Graded, Score, grade, parse_answer, report, score
from .ordering import Ordering, file_order, order
from .sets import ExerciseSet, SetError, bundled_sets, load_set, set_names
from .terminal import quiz_command

__all__ = ["ExerciseSet", "Graded", "Ordering", "Score", "SetError",
           "bundled_sets", "file_order", "grade", "load_set", "order",
           "parse_answer", "quiz_command", "report", "score", "set_names"]
