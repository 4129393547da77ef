"""The test suite of the handgrad course (a package, so that tests import each other as ``tests.*``)."""
