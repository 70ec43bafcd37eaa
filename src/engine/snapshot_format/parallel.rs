//! Running a few jobs at once on scoped threads, without ever failing for lack of threads.

use std::sync::Mutex;

/// Runs `here` on the calling thread and each of `others` on a scoped thread of its own, all at
/// once, and returns their results (those of `others` in their order). A job whose thread
/// cannot be spawned (a target without threads, a process out of them) runs on the calling
/// thread after `here`, so the results never depend on whether threads were available. A job
/// that panics (a bug) panics the caller, as it would have without threads.
pub(super) fn run<H, T: Send, F: FnOnce() -> T + Send>(
    here: impl FnOnce() -> H,
    others: Vec<F>,
) -> (H, Vec<T>) {
    run_spawning(here, others, true)
}

/// [`run`]; with `spawn` false, as if no thread could be spawned.
fn run_spawning<H, T: Send, F: FnOnce() -> T + Send>(
    here: impl FnOnce() -> H,
    others: Vec<F>,
    spawn: bool,
) -> (H, Vec<T>) {
    if others.is_empty() {
        return (here(), Vec::new());
    }
    // `spawn_scoped` consumes the closure even when it fails, so each job waits in a slot the
    // calling thread can still take it from.
    let slots: Vec<Mutex<Option<F>>> = others.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let take = |slot: &Mutex<Option<F>>| match slot.lock() {
        Ok(mut job) => job.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = slots
            .iter()
            .map(|slot| {
                if !spawn {
                    return None;
                }
                std::thread::Builder::new()
                    .name("chatio-snapshot".into())
                    .spawn_scoped(scope, move || take(slot).map(|job| job()))
                    .ok()
            })
            .collect();
        let mine = here();
        let mut results = Vec::with_capacity(slots.len());
        for (slot, handle) in slots.iter().zip(handles) {
            let result = match handle.map(|h| h.join()) {
                Some(Ok(result)) => result,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => None,
            };
            // Not spawned: the job is still in its slot.
            results.extend(result.or_else(|| take(slot).map(|job| job())));
        }
        (mine, results)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_order_of_the_jobs() {
        let data: Vec<u64> = (0..1000).collect();
        let jobs: Vec<_> = data
            .chunks(100)
            .map(|part| move || part.iter().sum::<u64>())
            .collect();
        let (here, sums) = run(|| data.len(), jobs);
        assert_eq!(here, 1000);
        let expected: Vec<u64> = data.chunks(100).map(|p| p.iter().sum()).collect();
        assert_eq!(sums, expected);
        assert_eq!(run(|| 'x', Vec::<fn() -> u8>::new()), ('x', Vec::new()));
    }

    #[test]
    fn jobs_without_a_thread_run_on_the_calling_thread() {
        let caller = std::thread::current().id();
        let jobs: Vec<_> = (0..3u32)
            .map(|i| move || (i, std::thread::current().id()))
            .collect();
        let (here, others) = run_spawning(|| 9, jobs, false);
        assert_eq!(here, 9);
        assert_eq!(others, [(0, caller), (1, caller), (2, caller)]);
        // Spawned, they run elsewhere, and come back in the same order.
        let jobs: Vec<_> = (0..3u32)
            .map(|i| move || (i, std::thread::current().id()))
            .collect();
        let (_, others) = run_spawning(|| 9, jobs, true);
        assert_eq!(others.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(others.iter().all(|r| r.1 != caller));
    }
}
