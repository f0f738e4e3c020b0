"""The standard-library modules model code may import inside the sandbox.

componentize-py has no virtual filesystem: only modules imported while the
component is built end up in its memory snapshot. This is the one list of
them; the driver imports every name here at build time, and `import` of any
other module fails with a `ModuleNotFoundError` that names these.
"""

MODULES = (
    # text and data formats
    "re", "string", "textwrap", "difflib", "unicodedata", "codecs",
    "json", "csv", "html", "html.parser", "html.entities",
    "xml", "xml.etree.ElementTree", "xml.dom", "xml.dom.minidom", "xml.sax", "xml.sax.saxutils",
    "base64", "binascii", "quopri", "struct", "array", "urllib.parse", "shlex", "fnmatch",
    "pprint", "reprlib", "tomllib", "email", "email.message", "email.parser", "email.utils",
    # numbers
    "math", "cmath", "statistics", "decimal", "fractions", "numbers", "random", "operator",
    # containers and algorithms
    "collections", "collections.abc", "itertools", "functools", "heapq", "bisect",
    "copy", "graphlib", "queue", "enum", "dataclasses", "typing", "types", "abc",
    "contextlib", "weakref",
    # time
    "datetime", "time", "calendar", "_strptime",
    # hashing, ids, compression
    "hashlib", "hmac", "secrets", "uuid", "zlib", "gzip", "zipfile",
    # storage and concurrency in memory
    "sqlite3", "asyncio", "io",
    # introspection and errors
    "ast", "inspect", "traceback", "warnings", "keyword", "tokenize", "textwrap",
    "ipaddress", "colorsys", "pathlib", "os", "os.path", "sys", "linecache",
)
