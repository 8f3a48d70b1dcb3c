//! The sticky cache: live run machines kept in memory between steps, bounded, least recently
//! used evicted first. A step takes a run's machine out (so no two steps share it) and puts
//! it back after its commit; a machine whose `last_sequence` is not the run's is stale and
//! is replayed instead.

use std::collections::{BTreeMap, HashMap};

use crate::ids::RunId;
use crate::machine::RunMachine;

#[derive(Debug)]
pub(crate) struct RunCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<RunId, (u64, RunMachine)>,
    by_use: BTreeMap<u64, RunId>,
}

impl RunCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, tick: 0, entries: HashMap::new(), by_use: BTreeMap::new() }
    }

    /// Takes the run's machine if it is current (its last sequence is `last_sequence`);
    /// drops a stale one.
    pub(crate) fn take(&mut self, run_id: &RunId, last_sequence: u64) -> Option<RunMachine> {
        let (tick, machine) = self.entries.remove(run_id)?;
        self.by_use.remove(&tick);
        (machine.last_sequence() == last_sequence).then_some(machine)
    }

    /// Keeps a machine (evicting the least recently used beyond capacity).
    pub(crate) fn put(&mut self, run_id: RunId, machine: RunMachine) {
        if self.capacity == 0 || machine.is_closed() {
            self.remove(&run_id);
            return;
        }
        self.remove(&run_id);
        self.tick += 1;
        self.by_use.insert(self.tick, run_id.clone());
        self.entries.insert(run_id, (self.tick, machine));
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else { break };
            self.entries.remove(&oldest);
        }
    }

    /// Records that informational events (not inputs or commands) moved the run from
    /// `from` to `to`, so its cached machine stays current.
    pub(crate) fn bump(&mut self, run_id: &RunId, from: u64, to: u64) {
        if let Some((_, machine)) = self.entries.get_mut(run_id)
            && machine.last_sequence() == from
        {
            machine.set_last_sequence(to);
        }
    }

    pub(crate) fn remove(&mut self, run_id: &RunId) {
        if let Some((tick, _)) = self.entries.remove(run_id) {
            self.by_use.remove(&tick);
        }
    }
}
