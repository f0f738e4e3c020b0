//! The vendored wasmtime's pages faulted in ahead (`wasmtime::WrittenPages`,
//! `vendor/README.md`), on a small module of its own with a copy-on-write
//! image: whatever a memory's pages held when they are faulted in (written,
//! read from the image, read as zeros, zeros written over the image, never
//! touched), the memory reads the same afterwards.

use std::hint::black_box;

use wasmtime::{
    Config, Engine, Instance, InstanceAllocationStrategy, Module, PoolingAllocationConfig, Store, WrittenPages,
};

const PAGE: usize = 4096;
/// Four wasm pages: 64 host pages.
const MEMORY: usize = 4 << 16;
/// The image: 0xAB from 64 KiB to 128 KiB (host pages 16 to 31).
const IMAGE: std::ops::Range<usize> = (1 << 16)..(2 << 16);

/// A pool of exactly two memories, so that a third store must take the
/// slot of one that ended.
fn engine() -> Engine {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(2).total_memories(2).total_tables(2).max_memory_size(1 << 20);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).unwrap()
}

fn module(engine: &Engine) -> Module {
    let data = "\\ab".repeat(IMAGE.len());
    let wat = format!(r#"(module (memory (export "m") 4) (data (i32.const {}) "{data}"))"#, IMAGE.start);
    Module::new(engine, wat).unwrap()
}

fn initial() -> Vec<u8> {
    let mut bytes = vec![0; MEMORY];
    bytes[IMAGE].fill(0xab);
    bytes
}

#[test]
fn faulting_pages_in_ahead_keeps_every_byte_a_memory_holds() {
    let engine = engine();
    let module = module(&engine);
    // A store that wrote every page: its record covers the whole memory.
    let mut a = Store::new(&engine, ());
    let memory_a = Instance::new(&mut a, &module, &[]).unwrap().get_memory(&mut a, "m").unwrap();
    assert_eq!(memory_a.data(&a), &initial()[..], "the image is mapped");
    for page in 0..MEMORY / PAGE {
        memory_a.data_mut(&mut a)[page * PAGE + 7] = 0x11;
    }
    let record = WrittenPages::of(&a);
    // A kernel without PAGEMAP_SCAN (before 6.7) records nothing, and then
    // nothing is ever faulted in ahead: nothing to check.
    if record.bytes() == 0 && !std::fs::read_to_string("/proc/sys/kernel/osrelease").is_ok_and(|r| at_least_6_7(&r)) {
        return;
    }
    assert_eq!(record.bytes(), MEMORY, "{record:?}");

    // A second store, in the other (fresh) slot: every kind of page.
    let mut b = Store::new(&engine, ());
    let memory_b = Instance::new(&mut b, &module, &[]).unwrap().get_memory(&mut b, "m").unwrap();
    let mut want = initial();
    let data = memory_b.data_mut(&mut b);
    // Odd pages read first (mapped read-only: the image's file inside it,
    // the zero page outside), even ones left untouched.
    for page in (1..MEMORY / PAGE).step_by(2) {
        black_box(data[page * PAGE]);
    }
    // Written: outside the image; zeros over the image; read and then
    // written, inside and outside; the page after the image.
    for (page, value) in [(3, 0x5a), (18, 0x00), (21, 0x77), (5, 0x66), (32, 0x01)] {
        let bytes = page * PAGE..(page + 1) * PAGE;
        data[bytes.clone()].fill(value);
        want[bytes].fill(value);
    }
    let populated = record.prefault(&mut b);
    assert_eq!(populated, MEMORY, "every page of the record was populated");
    assert!(memory_b.data(&b) == &want[..], "a page changed when the record was faulted in");
    // Still an ordinary memory afterwards.
    memory_b.data_mut(&mut b)[IMAGE.start] = 0x42;
    assert_eq!(memory_b.data(&b)[IMAGE.start], 0x42);

    // The first store's slot, reused: not fresh, so nothing is faulted in,
    // and it starts from the image again.
    drop(a);
    let mut c = Store::new(&engine, ());
    let memory_c = Instance::new(&mut c, &module, &[]).unwrap().get_memory(&mut c, "m").unwrap();
    assert_eq!(record.prefault(&mut c), 0, "a reused slot is left alone");
    assert!(memory_c.data(&c) == &initial()[..], "a reused slot starts from the image");
}

/// Whether a kernel release (`6.18.44-...`) is 6.7 or later, which has
/// `PAGEMAP_SCAN`: there an empty record is a failure, not a skip.
fn at_least_6_7(release: &str) -> bool {
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 7)
}
