"""Releases: the store (:mod:`.publish`: index, lock, recovery, checksums, ``load``), an HTTP store
(:mod:`.httpstore`), and the files made for readers (:mod:`.outputs`)."""
