"""Loading a saved `.keras` file with an error that names it when the file is damaged."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras

from hiertcn_keras.artifacts.errors import DataError


def load_model_file(path):
    """`keras.models.load_model`, with a damaged or truncated file a `DataError` naming it.

    A `.keras` file is a zip archive; Keras reports a cut one as "File not found", which sends
    users looking for a missing file. The archive is checked first, and any other failure to
    load is reported with the file's name.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DataError(f"not a readable .keras file (truncated or damaged?): {error}", path=path) from None
    if damaged is not None:
        raise DataError(f"the .keras archive is damaged (its member {damaged!r} fails its CRC check)",
                        path=path)
    try:
        return keras.models.load_model(path)
    except Exception as error:  # Keras raises many types for a bad file; name the file
        raise DataError(f"cannot load the model: {error}", path=path) from error
