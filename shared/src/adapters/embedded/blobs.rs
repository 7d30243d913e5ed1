//! Blobs in a local folder. Writes go to a temporary file renamed into place, so a reader never sees
//! half a blob, and the file and its directory are flushed to disk before `put` returns: a webhook
//! body is acknowledged to Meta only after that, so it survives a power cut like the database does.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

use crate::ports::{Blobs, PortError};

/// A folder of blobs.
#[derive(Debug, Clone)]
pub struct FolderBlobs {
    root: PathBuf,
}

impl FolderBlobs {
    /// Uses (and creates on first write) `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, PortError> {
        let rel = Path::new(key);
        let plain = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(PortError::invalid(
                "blob key",
                format!("{key:?} is not a relative path"),
            ));
        }
        Ok(self.root.join(rel))
    }
}

/// Writes `bytes` to `path` through a synced temporary file and syncs the directory that names it.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        if let Some(up) = dir.parent() {
            std::fs::File::open(up)?.sync_all()?;
        }
    }
    let tmp = path.with_extension(format!("tmp-{}", ulid::Ulid::new()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    // The rename lives in the directory: without this a power cut may forget the file's name.
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait]
impl Blobs for FolderBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), PortError> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || write_durably(&path, &bytes))
            .await
            .map_err(|e| PortError::unavailable("put blob", e))?
            .map_err(|e| PortError::unavailable("put blob", e))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PortError::unavailable("get blob", e)),
        }
    }
}
