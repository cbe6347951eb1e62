"""一网通办 service catalog: file format, storage, import/export and search."""
