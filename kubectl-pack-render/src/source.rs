//! A template's text: read before the render starts ([`Pack::load`]), or
//! still on its way while the render begins ([`Reading::Background`], the
//! render command): each template waits only for the files it needs, so a
//! large pack's thousands of reads overlap its rendering. Both go through
//! [`Batch`]; loading at once waits for it and keeps the texts.
//!
//! Every file of a background batch is read whatever happens: a failed read
//! is kept and reported to whoever needs that file and by [`Batch::wait_all`]
//! (the render command calls it before writing anything), and a reading
//! thread that stops early wakes every waiter with an error instead of
//! leaving it blocked.
//!
//! [`Pack::load`]: crate::pack::Pack::load

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::RenderError;

/// When a pack's template files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// All of them before loading returns.
    Now,
    /// On threads of their own while the caller goes on.
    Background,
}

/// A template's text.
#[derive(Clone)]
pub struct Source(Inner);

#[derive(Clone)]
enum Inner {
    Ready(Arc<str>),
    Pending { batch: Arc<Batch>, index: usize },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Ready(text) => write!(f, "Source({} bytes)", text.len()),
            Inner::Pending { index, .. } => write!(f, "Source(file {index} of a batch)"),
        }
    }
}

impl Source {
    /// The text, once its file has been read.
    pub fn text(&self) -> Result<Arc<str>, RenderError> {
        match &self.0 {
            Inner::Ready(text) => Ok(text.clone()),
            Inner::Pending { batch, index } => batch.wait(*index),
        }
    }
}

impl From<Arc<str>> for Source {
    fn from(text: Arc<str>) -> Source {
        Source(Inner::Ready(text))
    }
}

impl From<String> for Source {
    fn from(text: String) -> Source {
        Source(Inner::Ready(text.into()))
    }
}

impl From<&str> for Source {
    fn from(text: &str) -> Source {
        Source(Inner::Ready(text.into()))
    }
}

/// Files being read on background threads.
#[derive(Debug)]
pub struct Batch {
    /// Each file, and whether its directory entry says it is a regular file.
    files: Vec<(PathBuf, bool)>,
    state: Mutex<State>,
    arrived: Condvar,
}

#[derive(Debug)]
struct State {
    /// Each file's text, or the reason it could not be read.
    texts: Vec<Option<Result<Arc<str>, String>>>,
    /// Reading threads still running.
    readers: usize,
}

/// Marks its reading thread as finished, however it ends.
struct Finished(Arc<Batch>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.lock().readers -= 1;
        self.0.arrived.notify_all();
    }
}

impl Batch {
    /// Starts `threads` threads reading `files` in order with `read`,
    /// each taking the next file when done with one.
    pub fn start(
        files: Vec<(PathBuf, bool)>,
        threads: usize,
        read: fn(&std::path::Path, bool) -> Result<Arc<str>, String>,
    ) -> Arc<Batch> {
        let threads = threads.clamp(1, files.len().max(1));
        let batch = Arc::new(Batch {
            state: Mutex::new(State {
                texts: vec![None; files.len()],
                readers: threads,
            }),
            files,
            arrived: Condvar::new(),
        });
        let next = Arc::new(AtomicUsize::new(0));
        for _ in 0..threads {
            let finished = Finished(batch.clone());
            let next = next.clone();
            let spawned = std::thread::Builder::new()
                .name("read".into())
                .spawn(move || {
                    let batch = &finished.0;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((path, regular)) = batch.files.get(i) else {
                            return;
                        };
                        let text = read(path, *regular);
                        batch.lock().texts[i] = Some(text);
                        batch.arrived.notify_all();
                    }
                });
            // Without a thread, its share is read by the others (and the
            // closure, dropped with the error, counts it as finished).
            drop(spawned);
        }
        batch
    }

    /// The source of file `index`.
    pub fn source(self: &Arc<Self>, index: usize) -> Source {
        Source(Inner::Pending {
            batch: self.clone(),
            index,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until file `index` is read (or no thread is left to read it).
    fn wait(&self, index: usize) -> Result<Arc<str>, RenderError> {
        let mut state = self.lock();
        loop {
            match &state.texts[index] {
                Some(Ok(text)) => return Ok(text.clone()),
                Some(Err(message)) => {
                    return Err(RenderError::Io {
                        path: self.files[index].0.clone(),
                        message: message.clone(),
                    });
                }
                None if state.readers == 0 => return Err(RenderError::WorkerStopped),
                None => state = self.arrived.wait(state).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }

    /// Waits for every file; the first (in order) that could not be read.
    pub fn wait_all(&self) -> Result<(), RenderError> {
        (0..self.files.len()).try_for_each(|i| self.wait(i).map(drop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &std::path::Path, _regular: bool) -> Result<Arc<str>, String> {
        let name = path.display().to_string();
        if name.contains("broken") {
            return Err("permission denied".into());
        }
        assert!(!name.contains("panic"), "reader blew up");
        Ok(format!("text of {name}").into())
    }

    #[test]
    fn every_file_arrives_in_its_slot_and_a_failed_read_names_its_file() {
        let paths: Vec<(PathBuf, bool)> = (0..50)
            .map(|i| {
                (
                    PathBuf::from(if i == 37 {
                        "broken-37".into()
                    } else {
                        format!("t{i}")
                    }),
                    true,
                )
            })
            .collect();
        let batch = Batch::start(paths, 4, read);
        assert_eq!(&*batch.source(3).text().unwrap(), "text of t3");
        let err = batch.source(37).text().unwrap_err().to_string();
        assert_eq!(err, "broken-37: permission denied");
        assert_eq!(batch.wait_all().unwrap_err().to_string(), err);
        assert_eq!(&*batch.source(49).text().unwrap(), "text of t49");
    }

    #[test]
    fn a_reader_that_stops_wakes_its_waiters_with_an_error() {
        let paths = vec![(PathBuf::from("panic"), true)];
        let batch = Batch::start(paths, 1, read);
        assert!(matches!(
            batch.source(0).text(),
            Err(RenderError::WorkerStopped)
        ));
    }
}
