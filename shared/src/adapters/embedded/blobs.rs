//! Blobs in a local folder. Writes go to a temporary file renamed into place, so a reader never sees
//! half a blob.

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

#[async_trait]
impl Blobs for FolderBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), PortError> {
        let path = self.path(key)?;
        let tmp = path.with_extension(format!("tmp-{}", ulid::Ulid::new()));
        let io = |e| PortError::unavailable("put blob", e);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PortError::unavailable("get blob", e)),
        }
    }
}
