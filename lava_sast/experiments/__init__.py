"""The experiment harness: studies, tuning, cross-validation and the published tables.

It drives the method core (:mod:`lava_sast.trainer`, :mod:`lava_sast.methods`, ...) and
is never imported by it: dependencies point one way, experiments -> core.  The commands
keep their short names, ``python -m lava_sast.study`` (``tune``, ``crossval``, ``sweep``,
``published``), through one-line modules in :mod:`lava_sast`.
"""
