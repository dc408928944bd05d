"""``kafka.future``: a small future for results made in Python (commit_async)."""

import functools
import logging

from ferrokafka.errors import RetriableError

__all__ = ["Future"]

log = logging.getLogger("kafka.future")


class Future:
    """A result or an exception, with callbacks run when it is set."""

    error_on_callbacks = False

    def __init__(self):
        self.is_done = False
        self.value = None
        self.exception = None
        self._callbacks = []
        self._errbacks = []

    def succeeded(self):
        return self.is_done and self.exception is None

    def failed(self):
        return self.is_done and self.exception is not None

    def retriable(self):
        return self.failed() and isinstance(self.exception, RetriableError)

    def success(self, value):
        self.value = value
        self.is_done = True
        callbacks, self._callbacks, self._errbacks = self._callbacks, [], []
        self._run(callbacks, value)
        return self

    def failure(self, exception):
        if isinstance(exception, type):
            exception = exception()
        self.exception = exception
        self.is_done = True
        errbacks, self._callbacks, self._errbacks = self._errbacks, [], []
        self._run(errbacks, exception)
        return self

    def _run(self, functions, argument):
        for function in functions:
            try:
                function(argument)
            except Exception:
                log.exception("Error processing callback")
                if self.error_on_callbacks:
                    raise

    def add_callback(self, f, *args, **kwargs):
        if args or kwargs:
            f = functools.partial(f, *args, **kwargs)
        if self.is_done:
            if self.exception is None:
                self._run([f], self.value)
        else:
            self._callbacks.append(f)
        return self

    def add_errback(self, f, *args, **kwargs):
        if args or kwargs:
            f = functools.partial(f, *args, **kwargs)
        if self.is_done:
            if self.exception is not None:
                self._run([f], self.exception)
        else:
            self._errbacks.append(f)
        return self

    def add_both(self, f, *args, **kwargs):
        self.add_callback(f, *args, **kwargs)
        return self.add_errback(f, *args, **kwargs)

    def get(self, timeout=None):
        """The value, or raises the exception (the future is always done)."""
        if self.exception is not None:
            raise self.exception
        return self.value
