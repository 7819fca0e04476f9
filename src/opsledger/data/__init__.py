"""The data directory: Parquet tables in and out (:mod:`.io`), atomic writes, the journal and the lock
(:mod:`.txn`), and the small text and number formatting every output shares (:mod:`.fmt`,
:mod:`.text`, :mod:`.paths`)."""
