"""What model code may import, and interpreter features it may not use.

componentize-py has no virtual filesystem: only modules imported while the
component is built end up in its snapshot, so `preload()` imports every module
of `preload.MODULES` at build time.

The refusals here are conveniences that turn a confusing half-working module
into a clear error. They are not the barrier: Python code can reach around
any of them. Containment comes from the WASI context the host gives the
guest, which has no files, no environment, no sockets and no processes.
"""

import encodings
import importlib
import pkgutil
import sys

import preload

# Modules the stdlib pulls in that can only fail here (no network, no
# processes, no native code): refused by name rather than half-working.
BLOCKED_MODULES = frozenset(
    ("subprocess", "_posixsubprocess", "socket", "_socket", "ssl", "_ssl", "ctypes", "_ctypes", "multiprocessing", "mmap")
)


def preload_modules():
    for name in preload.MODULES:
        importlib.import_module(name)
    # Codec lookups import `encodings.<name>` lazily: load them all now.
    for info in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module("encodings." + info.name)
        except Exception:
            pass
    for name in BLOCKED_MODULES:
        sys.modules.pop(name, None)


preload_modules()

AVAILABLE_MODULES = tuple(sorted((set(preload.MODULES) | set(sys.builtin_module_names)) - BLOCKED_MODULES))


class _UnavailableModuleFinder:
    """Last on `sys.meta_path`: turns a failed import into a clear error."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        raise ModuleNotFoundError(
            f"No module named {name!r}: the sandbox has no filesystem, so only these "
            f"modules can be imported: {', '.join(m for m in AVAILABLE_MODULES if not m.startswith('_'))}",
            name=name,
        )

    @staticmethod
    def invalidate_caches():
        pass


class _BlockedModuleFinder:
    """First on `sys.meta_path`: refuses the blocked modules, even built-in ones."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED_MODULES:
            raise ModuleNotFoundError(
                f"No module named {name!r}: it is disabled in the sandbox, which has no network, "
                "no processes and no native code",
                name=name,
            )
        return None

    @staticmethod
    def invalidate_caches():
        pass


def _no_audit_hooks(hook):
    # An audit hook can never be removed: one that raises would break every
    # later cell for good. Model code has no use for one here.
    raise RuntimeError("sys.addaudithook is disabled in the sandbox")


def install():
    # The snapshot has no filesystem behind it: path-based finders can only fail.
    sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__name__", "") != "PathFinder"]
    sys.meta_path.insert(0, _BlockedModuleFinder)
    sys.meta_path.append(_UnavailableModuleFinder)
    sys.addaudithook = _no_audit_hooks

