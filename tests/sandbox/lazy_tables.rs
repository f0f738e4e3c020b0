//! The vendored wasmtime applies an active element segment of functions for
//! an imported table lazily (`vendor/README.md`): the startup function has
//! the runtime mark the elements uninitialized and record the segment with
//! the table's owner, which builds each function reference at its first
//! read. These tests hold it to the WebAssembly semantics of eager
//! application, on small modules of their own, with wasmtime's default
//! settings and with rlm-sandbox's (pool, fuel without epoch checks).

use wasmtime::{
    Config, Engine, Extern, Func, Instance, InstanceAllocationStrategy, Module, PoolingAllocationConfig, Ref, RefType,
    Store, Table, TableType,
};

/// Owns the table (`size` elements, one of its own functions at 9) and the
/// global that the others place their segments with.
fn owner(size: u32) -> String {
    format!(
        r#"(module
            (type $t (func (result i32)))
            (table (export "table") {size} funcref)
            (global (export "base") i32 (i32.const 2))
            (func $own (result i32) i32.const 99)
            (elem (i32.const 9) func $own)
            (func (export "call") (param i32) (result i32) local.get 0 call_indirect (type $t))
            (func (export "copy") (param i32 i32) local.get 0 local.get 1 i32.const 1 table.copy)
            (func (export "grow") (result i32) ref.null func i32.const 10 table.grow))"#
    )
}

/// Places functions answering `first` and `first + 1` at `base`, and one
/// answering `first + 2` at 6: one segment at an imported global, one at a
/// constant. Its own `call` reads the shared table too.
fn user(first: i32) -> String {
    format!(
        r#"(module
            (type $t (func (result i32)))
            (import "a" "table" (table 10 funcref))
            (import "a" "base" (global i32))
            (func $f (result i32) i32.const {first})
            (func $g (result i32) i32.const {})
            (func $h (result i32) i32.const {})
            (elem (global.get 0) func $f $g)
            (elem (i32.const 6) func $h)
            (func (export "call") (param i32) (result i32) local.get 0 call_indirect (type $t)))"#,
        first + 1,
        first + 2
    )
}

/// The settings rlm-sandbox runs the guest with, as far as they touch
/// tables and instantiation (fuel without epoch checks).
fn sandbox_config() -> Config {
    let mut config = Config::new();
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(64).total_tables(64).table_elements(1000).total_memories(8);
    config.consume_fuel(true).epoch_interruption(false).allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

struct World {
    engine: Engine,
    store: Store<()>,
    owner: Instance,
    table: Table,
}

impl World {
    fn new() -> Self {
        Self::with(Config::new(), 10)
    }

    fn with(config: Config, size: u32) -> Self {
        let engine = Engine::new(&config).unwrap();
        let mut store = Store::new(&engine, ());
        if config_has_fuel(&engine) {
            store.set_fuel(u64::MAX).unwrap();
        }
        let module = Module::new(&engine, owner(size)).unwrap();
        let owner = Instance::new(&mut store, &module, &[]).unwrap();
        let table = owner.get_table(&mut store, "table").unwrap();
        Self { engine, store, owner, table }
    }

    /// Instantiates `wat` against the owner's table and global.
    fn link(&mut self, wat: &str) -> wasmtime::Result<Instance> {
        let module = Module::new(&self.engine, wat).unwrap();
        let imports = self.imports(&module);
        Instance::new(&mut self.store, &module, &imports)
    }

    /// The owner's exports that `module` imports, by name.
    fn imports(&mut self, module: &Module) -> Vec<Extern> {
        let names: Vec<String> = module.imports().map(|i| i.name().to_owned()).collect();
        names.iter().map(|name| self.owner.get_export(&mut self.store, name).unwrap()).collect()
    }

    /// Calls table element `i` through `call_indirect` in `instance`.
    fn call_in(&mut self, instance: Instance, i: i32) -> wasmtime::Result<i32> {
        let call = instance.get_typed_func::<i32, i32>(&mut self.store, "call").unwrap();
        call.call(&mut self.store, i)
    }

    /// Calls table element `i` through `call_indirect` in the owner.
    fn call(&mut self, i: i32) -> wasmtime::Result<i32> {
        self.call_in(self.owner, i)
    }

    /// Reads element `i` through the host API and calls it.
    fn get(&mut self, i: u64) -> Option<i32> {
        let func = self.table.get(&mut self.store, i).unwrap();
        let func = func.unwrap_func()?.typed::<(), i32>(&self.store).unwrap();
        Some(func.call(&mut self.store, ()).unwrap())
    }

    fn is_null(&mut self, i: u16) -> bool {
        self.call(i.into()).is_err() && self.get(i.into()).is_none()
    }
}

fn config_has_fuel(engine: &Engine) -> bool {
    Store::new(engine, ()).get_fuel().is_ok()
}

#[test]
fn a_lazily_applied_segment_reads_as_an_eager_one() {
    for (name, config) in [("default", Config::new()), ("sandbox", sandbox_config())] {
        let mut w = World::with(config, 10);
        let user = w.link(&user(1)).unwrap();
        assert_eq!(w.call(2).unwrap(), 1, "{name}");
        assert_eq!(w.call_in(user, 3).unwrap(), 2, "{name}: through the importer's own call_indirect");
        assert_eq!(w.call(6).unwrap(), 3, "{name}");
        assert_eq!(w.call(9).unwrap(), 99, "{name}: the owner's own segment");
        for empty in [0, 1, 4, 5, 7, 8] {
            assert!(w.is_null(empty), "{name}: element {empty} is null");
        }
    }
    // The host API reads an element not yet read from wasm.
    let mut w = World::new();
    w.link(&user(1)).unwrap();
    assert_eq!((w.get(6), w.get(3)), (Some(3), Some(2)));
}

#[test]
fn a_later_segment_overwrites_an_earlier_one_and_writes_overwrite_both() {
    let mut w = World::new();
    w.link(&user(1)).unwrap();
    assert_eq!(w.call(2).unwrap(), 1, "read before the second module");
    w.link(&user(10)).unwrap();
    assert_eq!(w.call(2).unwrap(), 10, "an element read before is overwritten");
    // A copy inside the table, from an element never read, and a write from
    // the host win over both.
    let copy = w.owner.get_typed_func::<(i32, i32), ()>(&mut w.store, "copy").unwrap();
    copy.call(&mut w.store, (8, 6)).unwrap();
    assert_eq!(w.call(8).unwrap(), 12, "copied from an element never read");
    assert_eq!(w.call(6).unwrap(), 12);
    assert_eq!(w.call(3).unwrap(), 11, "an element never read is overwritten");
    w.table.set(&mut w.store, 3, Ref::Func(None)).unwrap();
    assert_eq!(w.get(3), None);
}

#[test]
fn a_segment_out_of_bounds_traps_and_the_ones_before_it_stay_applied() {
    let mut w = World::new();
    w.link(&user(1)).unwrap();
    // The first segment lands at 2 and 3; the second, at 9, runs past the end.
    let failing = r#"(module
        (import "a" "table" (table 10 funcref))
        (func $f (result i32) i32.const 40)
        (elem (i32.const 2) func $f $f)
        (elem (i32.const 9) func $f $f))"#;
    assert!(w.link(failing).is_err());
    assert_eq!(w.call(2).unwrap(), 40, "applied before the trap");
    assert_eq!(w.call(3).unwrap(), 40);
    assert_eq!(w.call(6).unwrap(), 3, "untouched");
    assert_eq!(w.call(9).unwrap(), 99, "the trap wrote nothing");
}

/// A segment applied eagerly (a list of expressions) that traps stops the
/// startup before a lazy segment after it: that one must not be applied,
/// nor shadow what an earlier instance applied (from an independent review:
/// the first version recorded every lazy segment before the startup ran).
#[test]
fn a_lazy_segment_after_a_trap_is_never_applied() {
    let mut w = World::new();
    w.link(&user(1)).unwrap();
    let failing = r#"(module
        (import "a" "table" (table 10 funcref))
        (func $f (result i32) i32.const 40)
        (elem (i32.const 9) funcref (ref.func $f) (ref.func $f))
        (elem (i32.const 0) func $f)
        (elem (i32.const 2) func $f))"#;
    assert!(w.link(failing).is_err());
    assert!(w.is_null(0), "a null element stays null");
    assert_eq!(w.call(2).unwrap(), 1, "the earlier instance's element stays");
    assert_eq!(w.call(9).unwrap(), 99);
}

/// Fuel that runs out at a lazy segment's charge stops the startup there.
#[test]
fn a_lazy_segment_whose_fuel_runs_out_is_never_applied() {
    let mut w = World::with(sandbox_config(), 300);
    let funcs = vec!["$f"; 250].join(" ");
    let big = format!(
        r#"(module
            (import "a" "table" (table 10 funcref))
            (func $f (result i32) i32.const 40)
            (elem (i32.const 0) func $f)
            (elem (i32.const 20) func {funcs}))"#
    );
    w.store.set_fuel(100).unwrap();
    let err = w.link(&big).unwrap_err();
    assert!(format!("{err:?}").contains("fuel"), "{err:?}");
    w.store.set_fuel(u64::MAX).unwrap();
    assert_eq!(w.call(0).unwrap(), 40, "applied before fuel ran out");
    assert!(w.is_null(20) && w.is_null(200), "never applied");
    // With fuel enough the same module applies both.
    w.link(&big).unwrap();
    assert_eq!((w.call(20).unwrap(), w.call(269).unwrap()), (40, 40));
    assert!(w.is_null(270));
}

#[test]
fn many_instances_in_one_store_each_read_their_own_functions() {
    let mut w = World::with(sandbox_config(), 10);
    let mut values = Vec::new();
    for first in (0..50).map(|n| n * 3) {
        w.link(&user(first)).unwrap();
        values.push((w.call(2).unwrap(), w.get(6).unwrap()));
    }
    let expected: Vec<_> = (0..50).map(|n| (n * 3, n * 3 + 2)).collect();
    assert_eq!(values, expected);
}

/// A segment may list a function the module imports, and a table may grow
/// after a segment was applied.
#[test]
fn an_imported_function_in_a_segment_and_a_table_grown_after_it() {
    let mut w = World::new();
    let reexport = r#"(module
        (import "a" "call" (func $call (param i32) (result i32)))
        (import "a" "table" (table 10 funcref))
        (elem (i32.const 4) func $call))"#;
    w.link(reexport).unwrap();
    let grow = w.owner.get_typed_func::<(), i32>(&mut w.store, "grow").unwrap();
    assert_eq!(grow.call(&mut w.store, ()).unwrap(), 10, "the old size");
    let call = w.table.get(&mut w.store, 4).unwrap().unwrap_func().unwrap().typed::<i32, i32>(&w.store).unwrap();
    assert_eq!(call.call(&mut w.store, 9).unwrap(), 99, "the owner's `call`, through the importer");
    assert!(w.is_null(15));
}

/// A table made by the host, and a 64-bit table.
#[test]
fn a_host_table_and_a_64_bit_table() {
    let engine = Engine::new(&Config::new()).unwrap();
    let mut store = Store::new(&engine, ());
    let table = Table::new(&mut store, TableType::new(RefType::FUNCREF, 10, None), Ref::Func(None)).unwrap();
    let module = Module::new(&engine, user(5)).unwrap();
    let base = wasmtime::Global::new(
        &mut store,
        wasmtime::GlobalType::new(wasmtime::ValType::I32, wasmtime::Mutability::Const),
        wasmtime::Val::I32(1),
    )
    .unwrap();
    let user = Instance::new(&mut store, &module, &[table.into(), base.into()]).unwrap();
    let call = user.get_typed_func::<i32, i32>(&mut store, "call").unwrap();
    assert_eq!((call.call(&mut store, 1).unwrap(), call.call(&mut store, 2).unwrap()), (5, 6));
    assert!(call.call(&mut store, 0).is_err());
    let read = |store: &mut Store<()>, i| table.get(store, i).unwrap().unwrap_func().copied();
    let six = read(&mut store, 6).map(|f: Func| f.typed::<(), i32>(&store).unwrap().call(&mut store, ()).unwrap());
    assert_eq!(six, Some(7));

    let wide = r#"(module
        (type $t (func (result i32)))
        (import "a" "table" (table i64 10 funcref))
        (func $f (result i32) i32.const 64)
        (elem (i64.const 3) func $f)
        (func (export "call") (param i64) (result i32) local.get 0 call_indirect (type $t)))"#;
    let mut config = Config::new();
    config.wasm_memory64(true);
    let engine = Engine::new(&config).unwrap();
    let mut store = Store::new(&engine, ());
    let ty = TableType::new64(RefType::FUNCREF, 10, None);
    let table = Table::new(&mut store, ty, Ref::Func(None)).unwrap();
    let module = Module::new(&engine, wide).unwrap();
    let instance = Instance::new(&mut store, &module, &[table.into()]).unwrap();
    let call = instance.get_typed_func::<i64, i32>(&mut store, "call").unwrap();
    assert_eq!(call.call(&mut store, 3).unwrap(), 64);
    assert!(call.call(&mut store, 4).is_err());
}
