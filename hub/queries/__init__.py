"""Read-side queries shared by the CLI and the API: one way to list each kind of record.

Each takes a :class:`~hub.queries.scope.Visibility` saying which enterprises the reader may see
and whether addresses are shown in full; the CLI passes ``Visibility.everything()``.
"""
