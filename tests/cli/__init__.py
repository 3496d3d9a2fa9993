"""Tests of the ``hub`` command, in process."""
