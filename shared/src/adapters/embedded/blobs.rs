//! Blobs in a local folder. Writes go to a temporary file renamed into place, so a reader never sees
//! half a blob, and the file and its directory are flushed to disk before `put` returns: a webhook
//! body is acknowledged to Meta only after that, so it survives a power cut like the database does.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::media::url::UrlSigner;
use crate::ports::{BlobStream, BlobWriter, Blobs, Clock, PortError, SystemClock};

/// A folder of blobs.
#[derive(Clone)]
pub struct FolderBlobs {
    root: PathBuf,
    signer: Option<UrlSigner>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FolderBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderBlobs")
            .field("root", &self.root)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl FolderBlobs {
    /// Uses (and creates on first write) `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            signer: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Hands out URLs signed by `signer`, expiring by `clock`: the local stack serves them.
    pub fn with_urls(mut self, signer: UrlSigner, clock: Arc<dyn Clock>) -> Self {
        self.signer = Some(signer);
        self.clock = clock;
        self
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

/// Syncs the directory that names `path`, creating it (and syncing its parent) if needed.
fn ensure_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        if let Some(up) = dir.parent() {
            std::fs::File::open(up)?.sync_all()?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` through a synced temporary file and syncs the directory that names it.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    ensure_dir(path)?;
    let tmp = temp_path(path);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    rename_durably(&tmp, path)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{name}.tmp-{}", ulid::Ulid::new()))
}

/// Renames `tmp` to `path` and syncs the directory: the rename lives there, and without the sync
/// a power cut may forget the file's name.
fn rename_durably(tmp: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(tmp, path)?;
    std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

/// A blob written to a temporary file beside its final name, renamed into place on commit.
struct FolderWriter {
    tmp: PathBuf,
    path: PathBuf,
    file: tokio::fs::File,
}

fn io(op: &'static str) -> impl Fn(std::io::Error) -> PortError {
    move |e| PortError::unavailable(op, e)
}

#[async_trait]
impl BlobWriter for FolderWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.file.write_all(chunk).await.map_err(io("write blob"))
    }

    async fn commit(mut self: Box<Self>) -> Result<(), PortError> {
        self.file.flush().await.map_err(io("write blob"))?;
        self.file.sync_all().await.map_err(io("write blob"))?;
        let (tmp, path) = (self.tmp.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || rename_durably(&tmp, &path))
            .await
            .map_err(|e| PortError::unavailable("commit blob", e))?
            .map_err(io("commit blob"))
    }

    async fn abort(self: Box<Self>) -> Result<(), PortError> {
        drop(self.file);
        match tokio::fs::remove_file(&self.tmp).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PortError::unavailable("abort blob", e)),
            _ => Ok(()),
        }
    }
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

    async fn writer(&self, key: &str, _content_type: &str) -> Result<Box<dyn BlobWriter>, PortError> {
        let path = self.path(key)?;
        let dir_path = path.clone();
        tokio::task::spawn_blocking(move || ensure_dir(&dir_path))
            .await
            .map_err(|e| PortError::unavailable("open blob", e))?
            .map_err(io("open blob"))?;
        let tmp = temp_path(&path);
        let file = tokio::fs::File::create(&tmp).await.map_err(io("open blob"))?;
        Ok(Box::new(FolderWriter { tmp, path, file }))
    }

    async fn url(&self, key: &str, ttl: Duration) -> Result<String, PortError> {
        self.path(key)?;
        let signer = self.signer.as_ref().ok_or_else(|| {
            PortError::misconfigured("blob url", std::io::Error::other("this folder has no URL signer"))
        })?;
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        Ok(signer.url(key, self.clock.now_ms().saturating_add(ttl_ms)))
    }

    /// The same signed path as [`Blobs::url`]: the local stack's route for it takes `PUT`.
    async fn upload_url(&self, key: &str, ttl: Duration) -> Result<String, PortError> {
        self.url(key, ttl).await
    }

    async fn reader(&self, key: &str) -> Result<Option<(u64, BlobStream)>, PortError> {
        let file = match tokio::fs::File::open(self.path(key)?).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PortError::unavailable("read blob", e)),
        };
        let size = file.metadata().await.map_err(io("read blob"))?.len();
        let chunks = futures::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buf = vec![0u8; 256 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(axum::body::Bytes::from(buf)), Some(file)))
                }
                Err(e) => Some((Err(PortError::unavailable("read blob", e)), None)),
            }
        });
        Ok(Some((size, Box::pin(chunks))))
    }

    async fn copy(&self, from: &str, to: &str, _content_type: &str) -> Result<(), PortError> {
        let (from, to) = (self.path(from)?, self.path(to)?);
        tokio::task::spawn_blocking(move || {
            ensure_dir(&to)?;
            let tmp = temp_path(&to);
            std::fs::copy(&from, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            rename_durably(&tmp, &to)
        })
        .await
        .map_err(|e| PortError::unavailable("copy blob", e))?
        .map_err(io("copy blob"))
    }
}
