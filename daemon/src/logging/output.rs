//! Where log lines go: stderr, and a file when one is configured.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use super::LogError;

/// Hands out one [`LineWriter`] per event.
#[derive(Clone)]
pub(super) struct Output {
    file: Option<Arc<Mutex<File>>>,
}

impl Output {
    pub(super) fn open(path: Option<&Path>) -> Result<Output, LogError> {
        let file = match path {
            None => None,
            Some(path) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| LogError::OpenFile {
                        path: path.to_owned(),
                        source,
                    })?;
                Some(Arc::new(Mutex::new(f)))
            }
        };
        Ok(Output { file })
    }

    /// Colours only for a terminal, and never when the same bytes also go to a file.
    pub(super) fn ansi(&self) -> bool {
        self.file.is_none() && io::stderr().is_terminal()
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            file: self.file.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// Collects one event's bytes and writes them with one call per destination when dropped,
/// so lines from concurrent threads never interleave.
pub(super) struct LineWriter {
    file: Option<Arc<Mutex<File>>>,
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        // A log line that cannot be written has nowhere to be reported; drop it.
        let _ = io::stderr().lock().write_all(&self.buf);
        if let Some(file) = &self.file
            && let Ok(mut f) = file.lock()
        {
            let _ = f.write_all(&self.buf);
        }
    }
}
