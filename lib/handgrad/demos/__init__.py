"""Lecture widgets: sliders and pictures that make a derivation visible.

Each demo works live in a notebook (ipywidgets) and returns a static figure when
:func:`handgrad.live.is_headless` says nobody watches (nbgrader, CI, plain Python).
Import a demo by module: ``from handgrad.demos import jacobian``.
"""
