//! Tasks tied to their owner's scope.

use tokio::task::{JoinError, JoinHandle};

/// A spawned task that is aborted when this handle is dropped: work started ahead for a loop
/// stops when the loop ends early.
#[derive(Debug)]
pub struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Waits for the task's result.
    pub async fn join(mut self) -> Result<T, JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
