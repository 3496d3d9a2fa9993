"""Registry import (一企一档), the pure half: read clerks' files, validate rows, apply the rules.

``parse_enterprises`` / ``parse_officers`` / ``parse_departments`` turn a CSV or XLSX file into
frozen records plus rejects; the database upsert consumes the records and
``ParseResult.write_rejects`` hands the rejects back to the clerk as ``<name>.rejects.csv``.
The enterprise data (credit events, policies, licences, annual reports) is read the same way
by ``data_columns`` and ``data_rows`` and saved by ``data_save``.
"""

from hub.importing.columns import (
    DEPARTMENT_COLUMNS,
    ENTERPRISE_COLUMNS,
    OFFICER_COLUMNS,
    Column,
    ColumnSet,
    HeaderMap,
)
from hub.importing.rows import (
    ContactRow,
    DepartmentRow,
    EnterpriseRecord,
    EnterpriseRow,
    OfficerRow,
    ParsedDepartments,
    ParsedEnterprises,
    ParsedOfficers,
    ParseResult,
    Reject,
    parse_departments,
    parse_enterprises,
    parse_officers,
    rejects_path,
    validate_department_row,
    validate_enterprise_row,
    validate_officer_row,
    write_rejects,
)
from hub.importing.tabular import Row, Table, TableFormat, open_table, read_rows, write_csv

__all__ = [
    "DEPARTMENT_COLUMNS",
    "ENTERPRISE_COLUMNS",
    "OFFICER_COLUMNS",
    "Column",
    "ColumnSet",
    "ContactRow",
    "DepartmentRow",
    "EnterpriseRecord",
    "EnterpriseRow",
    "HeaderMap",
    "OfficerRow",
    "ParseResult",
    "ParsedDepartments",
    "ParsedEnterprises",
    "ParsedOfficers",
    "Reject",
    "Row",
    "Table",
    "TableFormat",
    "open_table",
    "parse_departments",
    "parse_enterprises",
    "parse_officers",
    "read_rows",
    "rejects_path",
    "validate_department_row",
    "validate_enterprise_row",
    "validate_officer_row",
    "write_csv",
    "write_rejects",
]
