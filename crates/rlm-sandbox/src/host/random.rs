//! `host.seed-random`: fresh state for the guest's `random` module, written
//! by the host.
//!
//! Every sandbox starts from one snapshot, so the state of `random` baked
//! into it must be replaced in each. `random.seed()` did that inside the
//! guest for ~92k wasm instructions (CPython's Mersenne Twister seeding,
//! 2,496 bytes through `init_by_array`): about a twentieth of a sub-RLM's
//! CPU. Instead the host writes the generator's 624 state words from its own
//! CSPRNG, once per instance, before any model code runs. A uniformly random
//! state is as good a starting point as a seeded one (all-zero, the one
//! invalid state: MT19937 uses only the top bit of the first word, so
//! probability 2^-19937).

use wasmtime::StoreContextMut;
use wasmtime::component::LinkerInstance;

use super::HostState;
use super::write::{GuestWrite, WriteGuest};

/// The bytes of CPython's Mersenne Twister state (`uint32_t state[624]`).
const STATE_BYTES: usize = 624 * 4;

pub(super) fn add_to_linker(instance: &mut LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    instance.func_wrap("seed-random", |mut store: StoreContextMut<'_, HostState>, (address,): (u32,)| {
        // Once per instance: componentize-py seeds before the first export
        // call runs the driver or any model code, so model code calling this
        // later gets nothing.
        let first = !std::mem::replace(&mut store.data_mut().random_seeded, true);
        let state = first.then(|| {
            let mut state = [0; STATE_BYTES];
            rand::fill(&mut state[..]);
            state
        });
        Ok((GuestWrite(Seed { address, state }),))
    })
}

/// What `seed-random` writes.
struct Seed {
    address: u32,
    state: Option<[u8; STATE_BYTES]>,
}

impl WriteGuest for Seed {
    fn target(&self) -> Result<(u32, usize), String> {
        match self.state {
            Some(_) => Ok((self.address, STATE_BYTES)),
            None => Err("`random` was already seeded".into()),
        }
    }

    fn fill(&self, dst: &mut [u8]) {
        if let Some(state) = &self.state {
            dst.copy_from_slice(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_written_once_inside_memory_and_nowhere_else() {
        let state = [7; STATE_BYTES];
        let mut memory = vec![0xAA; STATE_BYTES + 8];
        assert_eq!(GuestWrite(Seed { address: 4, state: Some(state) }).write(&mut memory), None);
        assert!(memory[..4].iter().chain(&memory[4 + STATE_BYTES..]).all(|&b| b == 0xAA));
        assert!(memory[4..4 + STATE_BYTES].iter().all(|&b| b == 7));

        let mut memory = vec![0xAA; STATE_BYTES + 8];
        for address in [9, u32::MAX] {
            let refused = GuestWrite(Seed { address, state: Some(state) }).write(&mut memory).unwrap();
            assert!(refused.contains("outside the guest's memory"), "{refused}");
        }
        assert!(GuestWrite(Seed { address: 0, state: None }).write(&mut memory).unwrap().contains("already seeded"));
        assert!(memory.iter().all(|&b| b == 0xAA));
    }
}
