"""The process's open-file limit: raised at startup, explained when it runs out.

Every hosted partition keeps a descriptor open per segment (its ``.log`` file,
as in Kafka) and every client connection one more. Containers often start
processes with a soft RLIMIT_NOFILE of 1024 and a much higher hard limit, so,
like the JVM does for Kafka (``-XX:+MaxFDLimit``), the broker raises its soft
limit to the hard limit before opening anything and logs both.
"""

from __future__ import annotations

import errno
import logging
import resource

log = logging.getLogger(__name__)

#: errno values meaning "this process (or the system) has no descriptor left".
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})

HOW_TO_RAISE = (
    "raise the open-file limit of the broker process (e.g. `ulimit -n 100000` in its "
    "shell, LimitNOFILE= in its systemd unit, --ulimit nofile= for docker) and start it again"
)


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return (soft, hard) now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # e.g. hard=unlimited above the kernel's nr_open
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
        else:
            log.info("open-file limit raised from %d (soft) to the hard limit %d", soft, hard)
            return hard, hard
    log.info("open-file limit: %d (soft), %d (hard)", soft, hard)
    return soft, hard


def is_exhausted(exc: BaseException) -> bool:
    """True for EMFILE/ENFILE anywhere in ``exc``'s cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in EXHAUSTED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def exhausted_message(what: str) -> str:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f"too many open files {what} (limit {soft}): {HOW_TO_RAISE}"
