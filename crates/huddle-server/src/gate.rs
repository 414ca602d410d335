//! The connection caps: how many TCP connections may be open at once,
//! overall and per remote IP address.
//!
//! Every accepted connection asks the [`Gate`] for a [`Permit`]; the permit
//! travels with the socket ([`GatedIo`]) through HTTP and, after an
//! upgrade, the WebSocket, and gives its place back when the socket is
//! dropped. A connection over a cap may take one of a few overflow places,
//! where it is only told to come back later (`503` with `Retry-After`, or
//! `/healthz` answered); beyond those it is closed at once. Either way the
//! accept loop keeps accepting, so the listen backlog never fills with
//! connections nobody answers.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::metrics::ServerMetrics;

/// Places for connections over a cap, which only get a refusal (or
/// `/healthz`): bounded too, so a flood past the caps costs a few sockets.
pub const OVERFLOW_PLACES: usize = 32;

/// Descriptors kept free of connections when `--max-connections` is 0:
/// the store (SQLite files, PostgreSQL connections), the listener, logs,
/// and the overflow places.
const RESERVED_DESCRIPTORS: u64 = 64 + OVERFLOW_PLACES as u64;

/// The caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Most connections open at once.
    pub total: usize,
    /// Most connections open at once from one IP address (0: no cap of
    /// its own).
    pub per_ip: usize,
}

impl Caps {
    /// `--max-connections` (0: from the descriptor limit) and
    /// `--max-connections-per-ip`.
    pub fn from_flags(max_connections: usize, per_ip: usize) -> Caps {
        let total = if max_connections > 0 {
            max_connections
        } else {
            let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
            auto_total(soft)
        };
        Caps { total, per_ip }
    }
}

/// The default overall cap for a descriptor limit of `soft`: what is left
/// after [`RESERVED_DESCRIPTORS`], at least 1.
fn auto_total(soft: u64) -> usize {
    usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(1)).unwrap_or(usize::MAX)
}

/// Why a connection got no regular place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` are open.
    Total,
    /// `--max-connections-per-ip` are open from its address.
    PerIp,
}

impl Refusal {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Total => "max_connections",
            Refusal::PerIp => "max_connections_per_ip",
        }
    }
}

/// What a connection got.
#[derive(Debug)]
pub enum Admission {
    /// A regular place.
    Admitted(Permit),
    /// An overflow place: answer with a refusal.
    Overflow(Permit, Refusal),
    /// No place at all: close at once.
    Closed(Refusal),
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    overflow: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Counts open connections against the [`Caps`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Gate {
    caps: Caps,
    counts: Arc<Mutex<Counts>>,
    /// The server's metrics: connections open here, refusals and failed
    /// accepts in the accept loop.
    metrics: Arc<ServerMetrics>,
}

impl Gate {
    /// A gate with nothing open, counting in `metrics`.
    pub fn new(caps: Caps, metrics: Arc<ServerMetrics>) -> Gate {
        Gate {
            caps,
            counts: Arc::new(Mutex::new(Counts::default())),
            metrics,
        }
    }

    /// The server's metrics the gate counts in.
    pub fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// The caps.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// A place for a connection from `ip`.
    pub fn admit(&self, ip: IpAddr) -> Admission {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        let refusal = if counts.total >= self.caps.total {
            Some(Refusal::Total)
        } else if self.caps.per_ip > 0 && from_ip >= self.caps.per_ip {
            Some(Refusal::PerIp)
        } else {
            None
        };
        match refusal {
            None => {
                counts.total += 1;
                *counts.per_ip.entry(ip).or_default() += 1;
                self.metrics.tcp_open(1);
                Admission::Admitted(Permit {
                    gate: self.clone(),
                    place: Place::Regular(ip),
                })
            }
            Some(refusal) if counts.overflow < OVERFLOW_PLACES => {
                counts.overflow += 1;
                Admission::Overflow(
                    Permit {
                        gate: self.clone(),
                        place: Place::Overflow,
                    },
                    refusal,
                )
            }
            Some(refusal) => Admission::Closed(refusal),
        }
    }

    /// Connections open in regular places.
    pub fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    fn release(&self, place: Place) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match place {
            Place::Regular(ip) => {
                counts.total = counts.total.saturating_sub(1);
                if let Some(n) = counts.per_ip.get_mut(&ip) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        counts.per_ip.remove(&ip);
                    }
                }
                self.metrics.tcp_open(-1);
            }
            Place::Overflow => counts.overflow = counts.overflow.saturating_sub(1),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Place {
    Regular(IpAddr),
    Overflow,
}

/// A connection's place; given back on drop.
#[derive(Debug)]
pub struct Permit {
    gate: Gate,
    place: Place,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release(self.place);
    }
}

/// A TCP stream that holds its [`Permit`] for as long as it lives (through
/// an HTTP upgrade too).
#[derive(Debug)]
pub struct GatedIo {
    stream: TcpStream,
    _permit: Permit,
}

impl GatedIo {
    /// `stream` holding `permit`.
    pub fn new(stream: TcpStream, permit: Permit) -> GatedIo {
        GatedIo {
            stream,
            _permit: permit,
        }
    }
}

impl AsyncRead for GatedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for GatedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn caps_overall_and_per_ip_then_overflow_then_closed() {
        let gate = Gate::new(
            Caps {
                total: 3,
                per_ip: 2,
            },
            Arc::default(),
        );
        let a1 = gate.admit(ip(1));
        let a2 = gate.admit(ip(1));
        assert!(matches!(a1, Admission::Admitted(_)));
        assert!(matches!(a2, Admission::Admitted(_)));
        let over = gate.admit(ip(1));
        assert!(matches!(over, Admission::Overflow(_, Refusal::PerIp)));
        let b1 = gate.admit(ip(2));
        assert!(matches!(b1, Admission::Admitted(_)));
        assert_eq!(gate.open(), 3);
        assert_eq!(gate.metrics().tcp_connections_open(), 3);
        let full = gate.admit(ip(3));
        assert!(matches!(full, Admission::Overflow(_, Refusal::Total)));
        // Places come back when permits drop.
        drop(a1);
        assert_eq!(gate.open(), 2);
        assert_eq!(gate.metrics().tcp_connections_open(), 2);
        let c = gate.admit(ip(4));
        assert!(matches!(c, Admission::Admitted(_)));
        // The overflow places are bounded as well (two are taken).
        let mut held = Vec::new();
        for _ in 2..OVERFLOW_PLACES {
            held.push(gate.admit(ip(9)));
        }
        assert!(held.iter().all(|a| matches!(a, Admission::Overflow(..))));
        assert!(matches!(
            gate.admit(ip(9)),
            Admission::Closed(Refusal::Total)
        ));
        drop(held);
        drop((over, full));
        assert!(matches!(gate.admit(ip(9)), Admission::Overflow(..)));
    }

    #[test]
    fn no_per_ip_cap_when_zero() {
        let gate = Gate::new(
            Caps {
                total: 10,
                per_ip: 0,
            },
            Arc::default(),
        );
        let held: Vec<_> = (0..10).map(|_| gate.admit(ip(1))).collect();
        assert!(held.iter().all(|a| matches!(a, Admission::Admitted(_))));
    }

    #[test]
    fn auto_cap_leaves_a_reserve() {
        assert_eq!(auto_total(1024), 1024 - 96);
        assert_eq!(auto_total(10), 1);
        assert!(Caps::from_flags(0, 5).total >= 1);
        assert_eq!(
            Caps::from_flags(7, 5),
            Caps {
                total: 7,
                per_ip: 5
            }
        );
    }
}
