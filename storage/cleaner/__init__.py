"""The log cleaner (compaction) in three parts, as in Kafka.

* ``manager`` — scheduling and per-partition state (LogCleanerManager),
* ``cleaner`` — the cleaning function over segments (Cleaner),
* ``log_cleaner`` — the worker threads, throttling and stats (LogCleaner),

plus ``offset_map`` (key hash → latest offset), ``transactions``
(transactional-data bookkeeping) and ``throttler``. The swap itself lives in
``storage.log.Log.replace_segments`` and its crash recovery in
``storage.log_loader``.
"""
