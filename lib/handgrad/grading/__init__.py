"""The trusted grading round, one concept per module; a round's data flows down this list.

- ``results``: the data model: ``Status`` (every status a cell can get, with its meaning),
  ``CellRun``, ``CellVerdict``, ``Result``, ``ReviewItem``, ``InfrastructureError``.
- ``submission``: the student's file -> a notebook, or ``missing`` / ``rejected`` / ``corrupt``.
- ``rebuild``: the instructor's notebook with the student's solution cells; ``scan``: what
  those cells reach for (delegation, lines to review).
- ``sandbox``: run one notebook cell by cell; ``kernel`` (the restartable kernel),
  ``output_limiter``, ``bubblewrap`` (the sandbox prefix), ``jail`` (resource limits), ``limits``;
  ``ahead``: the kernel of a process's next unit, launched while the current unit runs.
- ``reference``: the instructor's own run, whose records the judge trusts (cached).
- ``judge``: records -> one ``CellVerdict`` per graded cell, decided outside the kernel.
- ``unit``: ``grade_one``, one student and assignment, values in (no course path), a ``Result`` out;
  ``incremental``: a unit whose inputs are unchanged reuses its recorded result.
- ``feedback``, ``gradebook``, ``report``, ``class_report``: what the student, nbgrader and the instructor
  get (the class report: score distribution, pass rates and the most common failures per cell).
- ``dispatch``: all units, here one by one, in a process pool or on a Dask cluster (``progress``: its
  bar on a terminal).
- ``round``: the orchestration (release, references, the units, then every write at once);
  ``cli``: ``handgrad grade``.
"""
