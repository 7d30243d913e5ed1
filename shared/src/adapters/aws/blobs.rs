//! Blobs in S3 (private bucket, encrypted at rest by the bucket's default).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::adapters::aws::sdk_err;
use crate::ports::{BlobStream, BlobWriter, Blobs, PortError};

/// Bytes held before they go to S3 as one part: above S3's 5 MiB minimum part size, and the most
/// a streamed write holds in memory. A blob smaller than one part is one `PutObject`.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// An S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

/// How long a presigned URL lives (S3 takes up to seven days).
fn presigning(ttl: Duration) -> Result<PresigningConfig, PortError> {
    PresigningConfig::expires_in(ttl).map_err(|e| PortError::invalid("presign blob url", e.to_string()))
}

impl S3Blobs {
    /// `GetObject` on `key`; `None` if nothing is stored there.
    async fn object(
        &self,
        key: &str,
        op: &'static str,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>, PortError> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(sdk_err(op)(e)),
        }
    }

    /// Wraps a client and a bucket name.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(sdk_err("put blob"))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let Some(out) = self.object(key, "get blob").await? else {
            return Ok(None);
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| PortError::unavailable("read blob", e))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn writer(&self, key: &str, content_type: &str) -> Result<Box<dyn BlobWriter>, PortError> {
        Ok(Box::new(S3Writer {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            buf: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
        }))
    }

    async fn url(&self, key: &str, ttl: Duration) -> Result<String, PortError> {
        let config = presigning(ttl)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(sdk_err("blob url"))?;
        Ok(req.uri().to_owned())
    }

    async fn upload_url(&self, key: &str, ttl: Duration) -> Result<String, PortError> {
        let config = presigning(ttl)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(sdk_err("blob upload url"))?;
        Ok(req.uri().to_owned())
    }

    async fn reader(&self, key: &str) -> Result<Option<(u64, BlobStream)>, PortError> {
        let Some(out) = self.object(key, "read blob").await? else {
            return Ok(None);
        };
        let size = out.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        let body = futures::stream::unfold(out.body, |mut body| async move {
            body.next()
                .await
                .map(|chunk| (chunk.map_err(|e| PortError::unavailable("read blob", e)), body))
        });
        Ok(Some((size, Box::pin(body))))
    }

    async fn copy(&self, from: &str, to: &str, content_type: &str) -> Result<(), PortError> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket))
            .key(to)
            .content_type(content_type)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .send()
            .await
            .map_err(sdk_err("copy blob"))?;
        Ok(())
    }
}

/// A blob streamed to S3: one `PutObject` if it fits in a part, else a multipart upload started
/// when the first part fills, completed on commit and aborted on abort (an upload never completed
/// is invisible and is removed by the bucket's lifecycle rule).
struct S3Writer {
    client: Client,
    bucket: String,
    key: String,
    content_type: String,
    buf: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl S3Writer {
    async fn flush_part(&mut self) -> Result<(), PortError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let out = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .content_type(&self.content_type)
                    .send()
                    .await
                    .map_err(sdk_err("start blob upload"))?;
                let id = out
                    .upload_id
                    .ok_or_else(|| PortError::invalid("start blob upload", "S3 gave no upload id"))?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let body = std::mem::take(&mut self.buf);
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk_err("upload blob part"))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build(),
        );
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, mut chunk: &[u8]) -> Result<(), PortError> {
        while !chunk.is_empty() {
            let room = PART_BYTES - self.buf.len();
            let (now, rest) = chunk.split_at(room.min(chunk.len()));
            self.buf.extend_from_slice(now);
            chunk = rest;
            if self.buf.len() == PART_BYTES {
                self.flush_part().await?;
            }
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), PortError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = std::mem::take(&mut self.buf);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(sdk_err("put blob"))?;
            return Ok(());
        };
        if !self.buf.is_empty() {
            self.flush_part().await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_err("complete blob upload"))?;
        Ok(())
    }

    async fn abort(self: Box<Self>) -> Result<(), PortError> {
        if let Some(upload_id) = &self.upload_id {
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
                .await
                .map_err(sdk_err("abort blob upload"))?;
        }
        Ok(())
    }
}
