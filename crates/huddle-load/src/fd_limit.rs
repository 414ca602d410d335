//! The open-file limit a run needs: one descriptor per client socket plus
//! a few for the HTTP client and the runtime. Checked before anything is
//! created, from Linux `/proc/self/limits`, so that a storm of 10 000
//! clients fails with "raise `ulimit -n`" instead of 10 000 connect errors.
//! (Raising the soft limit to the hard one needs `setrlimit`, which this
//! crate, free of `unsafe`, leaves to the shell: `ulimit -n`.)

use crate::LoadError;

/// Descriptors beyond the client sockets (HTTP client, runtime, stdio,
/// the storm's board checks in flight).
const SPARE: u64 = 128;

/// Fails if `sockets` client sockets cannot be open at once under the
/// current soft limit; passes where the limit cannot be read.
pub(crate) fn check(sockets: usize) -> Result<(), LoadError> {
    let Some(limit) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| soft_nofile(&text))
    else {
        return Ok(());
    };
    let needed = sockets as u64 + SPARE;
    if needed > limit {
        return Err(LoadError::Args(format!(
            "{sockets} clients need about {needed} open files, the limit is {limit}: \
             raise it (`ulimit -n {needed}`) or run fewer --clients"
        )));
    }
    Ok(())
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text (`None` for
/// "unlimited" or an unreadable line).
fn soft_nofile(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max cpu time              unlimited            unlimited            seconds\n\
                    Max open files            1024                 524288               files\n";
        assert_eq!(soft_nofile(text), Some(1024));
        assert_eq!(
            soft_nofile("Max open files  unlimited  unlimited  files\n"),
            None
        );
        assert_eq!(soft_nofile(""), None);
    }

    #[test]
    fn too_many_clients_are_refused_before_the_run() {
        if std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|t| soft_nofile(&t))
            .is_none()
        {
            return;
        }
        assert!(check(1).is_ok());
        let err = check(usize::MAX / 2).unwrap_err().to_string();
        assert!(err.contains("ulimit -n"), "{err}");
    }
}
