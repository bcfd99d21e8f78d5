"""The one error type for bad input data.

Every loader and the prepare pipeline raise `DataError` for input they cannot use, with the file,
the (1-based, header excluded) data row and the column, so that a user can open the file at the
right line instead of reading a stack trace from deep inside pandas.
"""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data, located as precisely as possible.

    Args:
        message: str. What is wrong, echoing the offending value.
        path: str or `None`. The file (or folder) the data came from.
        row: int or `None`. 1-based data row in that file (the header is row 0).
        column: str or `None`. The column (field) at fault.

    Example:

    >>> str(DataError("not a number: 'abc'", path="log.csv", row=3, column="timestamp"))
    "log.csv: row 3, column 'timestamp': not a number: 'abc'"
    """

    def __init__(self, message, *, path=None, row=None, column=None):
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.message = message
        where = []
        if self.path is not None:
            where.append(self.path)
        detail = []
        if row is not None:
            detail.append(f"row {row}")
        if column is not None:
            detail.append(f"column {column!r}")
        if detail:
            where.append(", ".join(detail))
        prefix = ": ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
