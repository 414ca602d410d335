//! Participant colours.

use serde::{Deserialize, Serialize};

/// The palette, in the spec's order.
pub const PALETTE: [&str; 8] = [
    "#FF6B6B", "#4ECDC4", "#45B7D1", "#96CEB4", "#FFEAA7", "#DDA0DD", "#98D8C8", "#F7DC6F",
];

/// A colour of [`PALETTE`], by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Color(u8);

impl Color {
    /// The palette entry at `index % 8`.
    pub fn from_index(index: usize) -> Self {
        Color((index % PALETTE.len()) as u8)
    }

    /// Its index in [`PALETTE`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Its CSS hex form, e.g. `#FF6B6B`.
    pub fn hex(self) -> &'static str {
        PALETTE[self.index() % PALETTE.len()]
    }

    /// The palette colour with this hex form (ASCII case-insensitive), if
    /// it is one.
    pub fn from_hex(hex: &str) -> Option<Self> {
        PALETTE
            .iter()
            .position(|p| p.eq_ignore_ascii_case(hex))
            .map(Color::from_index)
    }
}

/// How a new participant's colour is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorPolicy {
    /// The seed's rule: index = participants already present, modulo 8.
    /// Colours can repeat after someone leaves.
    #[default]
    Seed,
    /// The colour fewest present participants have; ties go to the first in
    /// palette order. Never repeats a colour while one is unused.
    LeastUsed,
}

impl ColorPolicy {
    /// The colour for a newcomer, given the colours of those present.
    pub fn pick(self, present: impl Iterator<Item = Color>) -> Color {
        match self {
            ColorPolicy::Seed => Color::from_index(present.count()),
            ColorPolicy::LeastUsed => {
                let mut uses = [0usize; PALETTE.len()];
                for c in present {
                    uses[c.index() % PALETTE.len()] += 1;
                }
                let min = uses.iter().copied().min().unwrap_or(0);
                let index = uses.iter().position(|&u| u == min).unwrap_or(0);
                Color::from_index(index)
            }
        }
    }
}
