"""A full nbgrader round per chapter: release, three submissions, autograde, gradebook.

- the solution typed into the student version gets full marks;
- the untouched student version gets zero on every exercise, and grading it
  does not crash;
- a plausible wrong answer loses that exercise's points, and the feedback
  the student gets back names the mistake.
"""

import nbformat
import pytest

from conftest import ROOT
from grading import Course, answered, solution_answers
from vae_course.release import assignments

# A plausible wrong answer per chapter: grade id -> (cell source, what the feedback must say).
WRONG_ANSWERS: dict[str, dict[str, tuple[str, str]]] = {
    "01_autoencoders": {
        # Keras's 'binary_crossentropy' habit: a per-pixel mean instead of a sum per image
        "ex1_bce_loss": (
            "def bce_loss(x, x_hat, eps=1e-7):\n"
            "    x_hat = np.clip(x_hat, eps, 1 - eps)\n"
            "    return float(np.mean(-(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat))))\n",
            "you averaged over the pixels",
        ),
    },
    "02_ae_limitations": {
        # the path stops one step short of z_end: np.arange(steps) / steps never reaches t = 1
        "ex3_interpolate": (
            "def interpolate(z_start, z_end, steps):\n"
            "    t = np.arange(steps)[:, None] / steps\n"
            "    return (1 - t) * z_start + t * z_end\n",
            "stops short of z_end",
        ),
    },
    "03_vae_theory": {
        # seed 002's bug: the log-variance used as if it were the log of the standard deviation
        "ex2_reparameterize": (
            "def reparameterize(z_mean, z_log_var, rng):\n"
            "    return z_mean + np.exp(z_log_var) * rng.standard_normal(np.shape(z_mean))\n",
            "exp(log_var) as the standard deviation",
        ),
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments(ROOT))
def test_grading_round_trip(tmp_path, assignment):
    assert assignment in WRONG_ANSWERS, f"add a plausible wrong answer for {assignment} to WRONG_ANSWERS"
    course = Course(tmp_path)
    student_version = course.release(assignment)
    solutions = solution_answers(assignment)
    wrong = WRONG_ANSWERS[assignment]
    course.submit("perfect", assignment, answered(student_version, solutions))
    course.submit("untouched", assignment, student_version)
    course.submit("wrong", assignment, answered(student_version, {**solutions, **{k: v[0] for k, v in wrong.items()}}))
    course.autograde(assignment, ["perfect", "untouched", "wrong"])

    perfect = course.scores(assignment, "perfect")
    assert len(perfect) >= 3
    assert all(score == maximum for score, maximum in perfect.values()), f"solution lost points: {perfect}"

    untouched = course.scores(assignment, "untouched")
    assert all(score == 0 for score, _ in untouched.values()), f"untouched notebook got points: {untouched}"

    graded = course.scores(assignment, "wrong")
    for grade_id, (score, maximum) in graded.items():
        expected = 0 if grade_id.removesuffix("_tests") in wrong else maximum
        assert score == expected, f"wrong answer: {grade_id} scored {score}/{maximum}, expected {expected}"

    feedback = nbformat.read(tmp_path / "autograded" / "wrong" / assignment / f"{assignment}.ipynb", as_version=4)
    errors = {
        cell.metadata["nbgrader"]["grade_id"]: "\n".join(o.get("evalue", "") for o in cell.outputs if o.output_type == "error")
        for cell in feedback.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
    }
    for grade_id, (_, message) in wrong.items():
        assert message in errors[f"{grade_id}_tests"], f"feedback for {grade_id} does not say {message!r}: {errors[f'{grade_id}_tests']!r}"
