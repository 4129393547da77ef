"""01_derivations beyond its catalogue: the graded cells and points the notebook promises, and written
answers that keep their rubric inside the solution block (hidden from students)."""

from __future__ import annotations

from tests.notebooks import catalogue, harness

ASSIGNMENT = "01_derivations"
MC = ("mc1", "mc2", "mc3", "mc4")


def test_points_are_integers_and_ids_as_documented() -> None:
    points = harness.graded_points(ASSIGNMENT)
    assert all(p == int(p) for p in points.values())
    assert sum(points.values()) == 26
    assert set(catalogue.solutions(ASSIGNMENT)) == {
        "softmax_jacobian", "softmax_ce_grad", "linear_backward", "leaky_relu_grad", "batchnorm_backward_dx",
        "div_backward", "expand_backward", "row_normalize_backward", "numerical_gradient", "relative_error", *MC}


def test_written_answers_keep_their_rubric_inside_the_solution_block() -> None:
    written = [c for c in harness.source_notebook(ASSIGNMENT).cells
               if c.cell_type == "markdown" and harness.nbgrader_meta(c).get("grade")]
    # Tied versus untied convolution biases is asked in 08, where convolutions are taught.
    assert [harness.nbgrader_meta(c)["grade_id"] for c in written] == ["written_batch_size", "written_bn_bias"]
    for cell in written:
        assert harness.nbgrader_meta(cell)["points"] == 2 and harness.nbgrader_meta(cell)["solution"]
        body = cell.source.strip()
        assert body.startswith("### BEGIN SOLUTION") and body.endswith("### END SOLUTION") and "Rubric" in body
