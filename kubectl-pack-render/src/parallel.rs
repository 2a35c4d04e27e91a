//! Work spread over a few threads with the results kept in order (the
//! render's templates), and large structures freed off the main path.

use crate::error::RenderError;

/// `f` over `items` on `workers` threads (this one and `workers - 1`
/// more), results in the items' order. Each thread takes the next item
/// when it is done with one, so a slow template does not hold up the rest.
/// A thread that panicked rendered nothing: the whole render fails rather
/// than write a stream without its templates.
pub fn in_order_on_threads<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Result<Vec<R>, RenderError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let results: Vec<std::thread::Result<Vec<(usize, R)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..workers.max(1)).map(|_| s.spawn(work)).collect();
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        std::iter::once(mine)
            .chain(handles.into_iter().map(|h| h.join()))
            .collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for r in results {
        all.extend(r.map_err(|_| RenderError::WorkerStopped)?);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}

/// Frees `value` on a thread of its own, so that the caller goes on at
/// once (a render's contexts hold thousands of small allocations). When the
/// process ends first, the operating system reclaims the memory.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
    // Without a thread (the system refused one) the value came back with
    // the error and is freed here, as usual.
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_thread_that_panics_fails_the_render_instead_of_dropping_templates() {
        let items: Vec<u32> = (0..10).collect();
        let ok = in_order_on_threads(&items, 2, |i| i * 2).expect("no panic");
        assert_eq!(ok, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        let failed = in_order_on_threads(&items, 2, |i| {
            assert!(*i != 7, "template 7 blew up");
            *i
        });
        assert!(matches!(failed, Err(RenderError::WorkerStopped)));
    }
}
