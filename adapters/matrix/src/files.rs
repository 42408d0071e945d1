//! The files people upload with a command: a Matrix `m.file` captioned `!oncall import`. The
//! `files:matrix` service downloads it by its `mxc://` URI through the bot's logged-in client
//! (authenticated media), at most 4 MiB.

use firebell_core::adapter::{AdapterError, FetchRequest, Fetched, MOST_FETCHED_BYTES, Service, files_service};
use firebell_core::async_trait;
use firebell_core::ids::Transport;
use matrix_sdk::Client;
use matrix_sdk::media::{MediaFormat, MediaRequestParameters};
use matrix_sdk::ruma::OwnedMxcUri;
use matrix_sdk::ruma::events::room::MediaSource;

/// The `files:matrix` service.
pub struct MatrixFiles {
    client: Client,
    name: String,
}

impl MatrixFiles {
    /// The service of the bot's `client`.
    pub(crate) fn new(client: Client) -> Self {
        Self { client, name: files_service(Transport::Matrix) }
    }

    async fn fetch(&self, source: &str) -> Fetched {
        let uri = OwnedMxcUri::from(source);
        if uri.validate().is_err() {
            return Fetched::Failed { reason: format!("expected an mxc:// file, got {source:?}") };
        }
        let request = MediaRequestParameters { source: MediaSource::Plain(uri), format: MediaFormat::File };
        match self.client.media().get_media_content(&request, false).await {
            Ok(bytes) if bytes.len() > MOST_FETCHED_BYTES => {
                Fetched::Failed { reason: "the file is larger than 4 MiB".to_owned() }
            }
            Ok(bytes) => Fetched::Body { text: String::from_utf8_lossy(&bytes).into_owned() },
            Err(err) => Fetched::Failed { reason: format!("the homeserver did not give the file: {err}") },
        }
    }
}

#[async_trait]
impl Service for MatrixFiles {
    fn name(&self) -> &str {
        &self.name
    }

    async fn call(&self, _action_id: &str, request: &str) -> Result<String, AdapterError> {
        let request: FetchRequest =
            serde_json::from_str(request).map_err(|err| AdapterError::Refused(format!("not a file request: {err}")))?;
        let fetched = self.fetch(&request.url).await;
        Ok(serde_json::to_string(&fetched).expect("fetch answers serialize"))
    }
}
