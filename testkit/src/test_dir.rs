//! A fresh folder for one test's files, removed when the test is done.

use std::path::{Path, PathBuf};

/// A fresh folder under the system's temporary folder, removed when dropped.
pub struct TestDir(PathBuf);

impl TestDir {
    /// Creates `firebell-<name>-<pid>` in the temporary folder, emptied first.
    ///
    /// # Panics
    /// When the folder cannot be created.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("firebell-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test folder");
        Self(dir)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
