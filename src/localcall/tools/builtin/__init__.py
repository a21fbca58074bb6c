"""The tools that ship with localcall: `localcall chat --tools localcall.tools.builtin`.

calculator, convert_units, current_time, query_database (read-only, over a demo shop
database) and read_file (confined to $LOCALCALL_FILES_ROOT, else the current directory).
All are read-only and safe to offer to any model.
"""

# In this order the model sees them (load_tools keeps the order of definition).
from .calculator import calculator
from .units import convert_units
from .clock import current_time
from .database import query_database, sql_query_tool
from .files import file_reader, read_file

__all__ = ["calculator", "convert_units", "current_time", "file_reader", "query_database",
           "read_file", "sql_query_tool"]
