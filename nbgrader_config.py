"""nbgrader configuration of the handgrad course (run nbgrader from this folder).

`handgrad grade` (make grade) uses nbgrader for the release, the gradebook and the feedback,
and replaces its execute-and-score stage with a sandboxed runner. The settings below keep
plain `nbgrader autograde` sane as well, for instructors who run it by hand.
"""

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "handgrad"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".handgrad"]

# Student-facing stub and the markers the source notebooks use.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# Plain `nbgrader autograde`: bounded time and output, and test cells restored even when deleted.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
c.OverwriteCells.add_missing_cells = True   # a deleted test cell is graded (and fails) instead of skipped
