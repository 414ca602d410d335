//! A benchmark case: the engine doing one thing, and the baseline doing
//! the least that thing requires, each as a runner that performs a number
//! of iterations and returns the time they took (criterion's
//! `iter_custom` shape, so criterion and the `compare` binary share them).

use std::time::Duration;

/// Runs `iters` iterations and returns the time measured (set-up between
/// iterations, such as building inputs, is not included).
pub type Runner = Box<dyn FnMut(u64) -> Duration>;

/// One comparison.
pub struct Case {
    /// The group, e.g. `apply_mutations`.
    pub group: &'static str,
    /// The parameters, e.g. `batch=16 payload=64B participants=1`.
    pub name: String,
    /// What one iteration is (`batch`, `join`, `call`...).
    pub unit: &'static str,
    /// Items per iteration (mutations per batch, boards expiring...), for
    /// per-item figures; 1 when the iteration is the item.
    pub items: u64,
    /// The engine.
    pub engine: Runner,
    /// The baseline.
    pub baseline: Runner,
    /// Iterations per sample when the case fixes them (expensive set-up,
    /// state consumed by each iteration); `None` lets the sampler calibrate.
    pub fixed_iters: Option<u64>,
}

impl Case {
    /// `group/name`, for criterion ids and tables.
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("group", &self.group)
            .field("name", &self.name)
            .field("unit", &self.unit)
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

/// A case not built yet: its id is known, its set-up (which may take
/// seconds and hundreds of megabytes) runs only when it is built, so that
/// a run holds one case at a time.
pub struct Planned {
    /// The group.
    pub group: &'static str,
    /// The parameters.
    pub name: String,
    build: Box<dyn FnOnce() -> Case>,
}

impl Planned {
    /// A case that `build` sets up.
    pub fn new(group: &'static str, name: String, build: impl FnOnce() -> Case + 'static) -> Self {
        Planned {
            group,
            name,
            build: Box::new(build),
        }
    }

    /// `group/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }

    /// Sets the case up.
    pub fn build(self) -> Case {
        let mut case = (self.build)();
        case.group = self.group;
        case.name = self.name;
        case
    }
}

impl std::fmt::Debug for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planned")
            .field("group", &self.group)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How big the set-ups are: `Full` is what `docs/performance.md` reports;
/// `Quick` keeps every case but shrinks the expensive set-ups so that a CI
/// smoke run takes seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The sizes the targets are stated for.
    Full,
    /// Small set-ups, for smoke runs.
    Quick,
}

impl Scale {
    /// Idle boards in the timer cases (100 000 in full).
    pub fn idle_boards(self) -> u64 {
        match self {
            Scale::Full => 100_000,
            Scale::Quick => 10_000,
        }
    }
}
