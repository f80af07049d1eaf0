//! Threads at a lower CPU priority for a bulk upload's own CPU work, so that answers go first.
//!
//! A bulk upload's chunks are checked (every line validated, policy-checked and keyed) and,
//! once committed, put into the match index and the ondermijningsbeeld: tens of milliseconds of
//! CPU per 10 000-line chunk, which must not run on the async runtime's workers (they answer
//! the matches; `crate::ingest::prepare` says why). On tokio's blocking pool that work still
//! competed with the workers and with the group commit as an equal, and on the two cores of a
//! small broker the match decisions waited for the scheduler behind it: match p99 during a
//! 3 M-signal upload stayed near 40 ms after the writer gate (docs/ARCHITECTURE.md, "The
//! SQLite writer").
//!
//! Here that work runs on [`THREADS`] threads of their own, each of which raises its own nice
//! value to [`NICE`] (or [`NICE_ENV`]) when it starts (`setpriority(PRIO_PROCESS, tid)`: on Linux the nice value
//! is per thread). Linux's scheduler then gives a runnable worker or writer about ten times the
//! share of a bulk thread, and a bulk thread all of whatever CPU nobody else wants — an upload
//! alone runs as fast as before. Raising one's own nice value needs no privilege; lowering it
//! again would, which is why these are threads of their own and not the blocking pool's.
//!
//! Not for work that holds something a decision waits for: the inserts that hold SQLite's
//! writer run where they did (a niced holder would make the decision wait longer — priority
//! inversion).

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// Threads in the pool: one per core of the small brokers this is tuned for; more would not
/// make an upload faster (it is one stream) and two uploads share them.
pub const THREADS: usize = 2;

/// The nice value the pool's threads take (0 is the default, 19 the lowest priority). At 10 a
/// thread's scheduler weight is about a tenth of a default thread's.
pub const NICE: i32 = 10;

/// The environment variable that sets the pool's nice value instead of [`NICE`] (0–19; `0`:
/// bulk work at the same priority as everything else, as before the pool), for an operator who
/// measures otherwise and for the side-by-side benchmark (`benches/http_load.rs`).
pub const NICE_ENV: &str = "KRUISPUNT_BULK_NICE";

/// The nice value the pool's threads take: [`NICE_ENV`] if it holds a number from 0 to 19,
/// else [`NICE`].
pub fn nice() -> i32 {
    std::env::var(NICE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|n| (0..=19).contains(n))
        .unwrap_or(NICE)
}

type Work = Box<dyn FnOnce() + Send>;

/// The pool's queue, started on first use.
fn queue() -> &'static mpsc::Sender<Work> {
    static QUEUE: OnceLock<mpsc::Sender<Work>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Work>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..THREADS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("kruispunt-bulk-{i}"))
                .spawn(move || {
                    lower_own_priority();
                    loop {
                        // The lock is held only while one thread waits for the next work.
                        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match next {
                            Ok(work) => work(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("spawn a bulk pool thread");
        }
        tx
    })
}

/// Sets the calling thread's nice value to [`nice`] (if it is below that); on failure the work runs at the normal
/// priority, as before this pool existed, and says so once.
fn lower_own_priority() {
    let tid = rustix::thread::gettid();
    // Never raise it: a broker started at a lower priority than that keeps it.
    let nice = nice();
    if current_nice() >= nice {
        return;
    }
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::warn!(error = %e, "the bulk pool could not lower its threads' priority");
    }
}

/// The calling thread's nice value (for the tests).
pub fn current_nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(i32::MIN)
}

/// Runs `work` on the pool and returns its result; a panic in it goes on in the caller, as if
/// it had run there.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Work = Box::new(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
    });
    queue()
        .send(job)
        .expect("the bulk pool's threads never stop");
    match rx.await.expect("the bulk pool answers every job") {
        Ok(t) => t,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_at_the_lower_priority_and_panics_reach_the_caller() {
        let here = current_nice();
        let there = run(current_nice).await;
        assert_eq!(
            there,
            nice().max(here),
            "the pool's threads run at nice {}",
            nice()
        );
        assert_eq!(current_nice(), here, "the caller's priority is untouched");
        let name = run(|| std::thread::current().name().map(str::to_owned)).await;
        assert!(name.is_some_and(|n| n.starts_with("kruispunt-bulk-")));
        let caught = tokio::spawn(run(|| -> u8 { panic!("bulk work failed") })).await;
        assert!(caught.unwrap_err().is_panic());
    }
}
