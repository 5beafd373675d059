"""The terminal log of ``eur-pipeline run``: the pipeline's own messages, one line each.

Dagster's console logger prints every failed step with its stack trace, the failed run again with the
same trace, and one "Not executing" line per skipped step. The command prints the run's one-line
reason itself, so here a failure is a single line and tracebacks appear only at DEBUG (``-v``).
"""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

from eur_pipeline.names import shown

_NOISE_AT_INFO = {"STEP_FAILURE", "PIPELINE_FAILURE", "RUN_FAILURE", "STEP_SKIPPED", "ENGINE_EVENT"}


class ConciseHandler(logging.Handler):
    """Formats Dagster's records as ``HH:MM:SS LEVEL message`` on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        text = str(meta.get("orig_message") or record.getMessage())
        if event is not None:
            if self.level > logging.DEBUG and event.event_type_value in _NOISE_AT_INFO:
                return  # the command prints the one-line reason; -v shows the details
            if event.event_type_value == "STEP_FAILURE" and event.step_failure_data.error is not None:
                text = f"{text}\n{event.step_failure_data.error.to_string()}"
        elif self.level > logging.DEBUG and text.endswith("Not executing."):
            return  # one line per step skipped after a failure: the failure itself is the news
        else:
            text = "\n".join(shown(line) for line in text.splitlines()) or text
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        sys.stderr.write(f"{stamp} {record.levelname:<7} {text}\n")


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="INFO")},
    description="One line per message; step failures and tracebacks only at DEBUG.",
)
def concise_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    level = logging.getLevelName(init_context.logger_config["log_level"].upper())
    logger = logging.Logger("eur_pipeline.run", level=level)
    handler = ConciseHandler(level=level)
    logger.addHandler(handler)
    return logger


LOGGERS = {"eur_console": concise_console}


def run_logging(log_level: str = "INFO") -> dict:
    """The run config selecting this logger (instead of Dagster's console logger) at ``log_level``."""
    return {"loggers": {"eur_console": {"config": {"log_level": log_level}}}}
