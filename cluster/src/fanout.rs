//! Asking many nodes or exporters at once, a bounded number at a time: a hundred sequential
//! HTTP or RPC round trips would take seconds on a loaded machine, and a hundred at once
//! would be a burst the nodes feel.

use std::sync::Arc;

use tokio::task::JoinSet;

/// Requests in flight at most.
pub(crate) const WORKERS: usize = 8;

/// `work` applied to every item, at most [`WORKERS`] at a time; the results in item order
/// (`None` only for an item whose `work` panicked).
pub(crate) async fn map<T, R, F, Fut>(items: Vec<T>, work: F) -> Vec<Option<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send,
{
    let count = items.len();
    let mut shares: Vec<Vec<(usize, T)>> = (0..WORKERS.min(count)).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        shares[i % WORKERS].push((i, item));
    }
    let work = Arc::new(work);
    let mut tasks = JoinSet::new();
    for share in shares {
        let work = Arc::clone(&work);
        tasks.spawn(async move {
            let mut done = Vec::with_capacity(share.len());
            for (i, item) in share {
                done.push((i, work(item).await));
            }
            done
        });
    }
    let mut results: Vec<Option<R>> = (0..count).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        // A task only panics if `work` does; its items then have no result.
        for (i, r) in done.into_iter().flatten() {
            results[i] = Some(r);
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_come_in_item_order() {
        let items: Vec<u64> = (0..50).collect();
        let out = map(items, |n| async move {
            // Later items finish first.
            tokio::time::sleep(std::time::Duration::from_millis(50 - n)).await;
            n * 2
        })
        .await;
        let want: Vec<Option<u64>> = (0..50).map(|n| Some(n * 2)).collect();
        assert_eq!(out, want);
        assert!(map(Vec::<u8>::new(), |n| async move { n }).await.is_empty());
    }
}
