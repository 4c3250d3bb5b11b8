"""Listening tests on generated audio: build, serve, collect and report.

- :mod:`~wavegen.listen.build` selects matching clips per genre, trims them to one length,
  normalizes loudness, makes the MUSHRA low-pass anchors and writes a test folder with blind keys.
- :mod:`~wavegen.listen.server` serves the test page on localhost and stores every answer at once
  in SQLite (:mod:`~wavegen.listen.store`).
- :mod:`~wavegen.listen.report` computes statistics (:mod:`~wavegen.listen.stats`) and writes a
  CSV and plots; :mod:`~wavegen.listen.webmushra` exports to and imports from webMUSHRA.
"""
