//! Bounded parallel work: unpacking, downloading, uploading and compressing layers all hand a list of
//! items to a few threads and fail as a whole at the first error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::{Error, Result};

/// Runs `work` on every item with at most `workers` threads; returns the results in the items' order, or
/// the first error (no more items are started once one failed).
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(k) else { break };
                match work(item) {
                    Ok(r) => done.lock().unwrap_or_else(|p| p.into_inner()).push((k, r)),
                    Err(e) => {
                        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        // The whole operation fails anyway: hand out no more work.
                        next.store(items.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(k, _)| *k);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

/// The machine's cores (two when unknown).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_order_and_the_first_error_wins() {
        let items: Vec<u32> = (0..20).collect();
        assert_eq!(
            map(&items, 3, |i| Ok(i * 2)).unwrap(),
            (0..20).map(|i| i * 2).collect::<Vec<_>>()
        );
        let err = map(&items, 3, |i| {
            if *i == 7 {
                Err(Error::InvalidArgument("seven".into()))
            } else {
                Ok(*i)
            }
        });
        assert!(matches!(err, Err(Error::InvalidArgument(m)) if m == "seven"));
        assert!(map::<u32, u32>(&[], 3, |_| Ok(0)).unwrap().is_empty());
    }
}
