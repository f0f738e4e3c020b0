"""The REPL driver that runs inside the sandbox: the `repl` export.

componentize-py runs this module's top level once, at build time, and
snapshots the interpreter; every sandbox starts from that snapshot. The host
drives it through the `repl` export (see `wasm/wit/sandbox.wit`), and model
code reaches the host only through the scaffold functions of `queries` and
`state`, which call the `host` import through `hostio`.

The modules, one job each:
- `policy`: what may be imported (and the module list of `preload`);
- `hostio`: everything sent to the host, and its encoding;
- `queries`: llm_query, rlm_query, tools, and the async event loop;
- `state`: the namespace, the scaffold, and what a cell changed;
- `app`: this export.
"""

import gc

import hostio
import policy
import state
from wit_world import exports
from wit_world.exports import repl as wit

# Every driver module is imported by now: from here on, imports see only
# what the snapshot holds.
policy.install()

for _path in (policy.__file__, policy.preload.__file__, __file__):
    state.add_driver_file(_path)

state.warm_up()

# Before componentize-py looks `random.seed` up, once, after this import.
hostio.seed_random_from_host()

# Everything above is in the build-time snapshot. Collect first: a full
# collection also empties CPython's free lists, and one left to the first
# cell would write to the snapshot pages those objects live on. Then freeze
# it out of the cyclic GC: a collection would otherwise walk, and so write
# to, every object of the snapshot, copying all of its pages into each
# sandbox.
gc.collect()
gc.freeze()

_OK = wit.CellStatus.OK
_RAISED = wit.CellStatus.RAISED
_DRIVER_FAILED = wit.CellStatus.DRIVER_FAILED


def _failed(exc):
    try:
        hostio.report(hostio.Report.MESSAGE, f"the REPL driver failed: {exc!r}")
    except BaseException:
        pass
    return False


class Repl(exports.Repl):
    # The implementations are bound as defaults, so rebinding the module's
    # globals from model code does not redirect later calls.
    #
    # Nothing here reseeds `random`: componentize-py calls `random.seed`
    # before the first export call of every instance (through
    # `hostio.seed_random_from_host`), so the state baked into the snapshot
    # is never used (tested: `random_differs_between_sandboxes`).
    def load_context(
        self,
        index,
        format,
        length,
        max_char,
        _load=state.load_context,
        _text=hostio.receive_text,
        _json=hostio.from_json,
        _settle=state.settle,
    ):
        try:
            _settle()
            text = _text(length, max_char)
            _load(index, _json(text) if format == wit.ContextFormat.JSON else text)
            return True
        except BaseException as exc:
            return _failed(exc)

    def install(self, tools, helpers, _install=state.install, _json=hostio.from_json, _settle=state.settle):
        try:
            _settle()
            return _install(_json(tools), _json(helpers))
        except BaseException as exc:
            return _failed(exc)

    def run_cell(self, code, _run=state.run_cell):
        try:
            return _OK if _run(code) == "ok" else _RAISED
        except BaseException as exc:
            # Model code can damage the driver's own state (say, by patching
            # a module it uses); report that instead of trapping.
            _failed(exc)
            return _DRIVER_FAILED

    def get_var(self, name, _get=state.get_var, _settle=state.settle):
        try:
            _settle()
            return _get(name)
        except BaseException as exc:
            return _failed(exc)

    def list_vars(self, _list=state.list_vars, _settle=state.settle):
        try:
            _settle()
            return _list()
        except BaseException as exc:
            return _failed(exc)
