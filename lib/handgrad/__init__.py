"""handgrad: the small shared library behind the deep-learning-by-hand notebooks.

Import what a notebook needs by module: ``from handgrad import checks, data, live``.
Submodules are imported on demand so that ``import handgrad`` stays cheap.
"""

__version__ = "0.1.0"
